//! `--history-table`: the stack's history table, which holds the kill switch and every revoke. `pause`, `resume` and
//! `undo` need it (`TableArgs`); the verbs that revoke, given it, run as a dry run while the switch pauses their
//! region (`HonourArgs`).

use egress_guard_aws::Clients;
use egress_guard_core::Settings;

/// The table the verb reads or writes.
#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// The stack's history table (its HistoryTableName output): the kill switch and every revoke egress-guard made.
    #[arg(long, env = "EGRESS_GUARD_HISTORY_TABLE")]
    history_table: Option<String>,
}

impl TableArgs {
    /// The table, which the verb cannot do without.
    pub fn required(self) -> anyhow::Result<String> {
        self.history_table
            .ok_or_else(|| anyhow::anyhow!("--history-table (the stack's HistoryTableName output) is required"))
    }
}

/// The table whose kill switch a verb that revokes honours.
#[derive(Debug, clap::Args)]
pub struct HonourArgs {
    /// The stack's history table (its HistoryTableName output): while its kill switch (`egress-guard pause`) pauses
    /// the region, this runs as a dry run.
    #[arg(long, env = "EGRESS_GUARD_HISTORY_TABLE")]
    pub history_table: Option<String>,
}

/// `settings` as a dry run, with the pause, when the switch in `table` pauses `region`; unchanged without a table.
pub async fn honour(
    clients: &Clients,
    table: Option<&str>,
    region: &str,
    settings: Settings,
) -> anyhow::Result<Settings> {
    let Some(table) = table else { return Ok(settings) };
    match clients.history(table).paused().await? {
        Some(pause) if pause.covers(region) => {
            eprintln!("{}\nA dry run: nothing is revoked.", pause.line());
            Ok(settings.paused(pause))
        }
        _ => Ok(settings),
    }
}
