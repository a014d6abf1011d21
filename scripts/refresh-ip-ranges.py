"""Refresh data/ip-ranges.json from AWS's ip-ranges.json (or the file named by argv[1]), dropping the AMAZON catch-all."""
import json
import pathlib
import sys
import urllib.request

URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
OUT = pathlib.Path(__file__).resolve().parent.parent / "data" / "ip-ranges.json"


def main():
    if len(sys.argv) > 1:
        raw = pathlib.Path(sys.argv[1]).read_bytes()
    else:
        with urllib.request.urlopen(URL, timeout=60) as resp:
            raw = resp.read()
    aws = json.loads(raw)
    pinned = {
        "syncToken": aws["syncToken"],
        "createDate": aws["createDate"],
        "prefixes": [p for p in aws["prefixes"] if p["service"] != "AMAZON"],
        "ipv6_prefixes": [p for p in aws["ipv6_prefixes"] if p["service"] != "AMAZON"],
    }
    OUT.parent.mkdir(exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(pinned, separators=(",", ":")) + "\n", encoding="ascii")
    tmp.replace(OUT)
    print(f"{OUT}: createDate {pinned['createDate']}, {len(pinned['prefixes'])} IPv4 and "
          f"{len(pinned['ipv6_prefixes'])} IPv6 prefixes")


if __name__ == "__main__":
    main()
