//! CloudFormation templates read as CloudFormation reads them: YAML short forms (`!Ref`, `!If`, ...) in long form, and
//! a stack rendered for given parameters (conditions, `Rules`, intrinsic functions, `AWS::NoValue`), so that a test
//! checks what a deploy would create rather than the text that describes it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use egress_guard_tests::repo_root;

/// The template at `path` (from the repository's root), short forms in long form.
pub fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let mut builder = Builder::default();
    Parser::new_from_str(&text).load(&mut builder, false).unwrap();
    builder.done.expect("a YAML document")
}

#[derive(Default)]
struct Builder {
    /// Open collections, each with the tag it was opened with and, for a mapping, the key waiting for its value.
    open: Vec<(Value, Option<String>, Option<String>)>,
    done: Option<Value>,
}

impl Builder {
    fn push(&mut self, value: Value) {
        match self.open.last_mut() {
            None => self.done = Some(value),
            Some((Value::Array(items), _, _)) => items.push(value),
            Some((Value::Object(map), _, key)) => match key.take() {
                None => *key = Some(value.as_str().expect("string keys").to_owned()),
                Some(k) => {
                    map.insert(k, value);
                }
            },
            Some(_) => unreachable!(),
        }
    }
}

/// `!Ref x` is `{"Ref": "x"}`, `!GetAtt a.b` is `{"Fn::GetAtt": ["a", "b"]}`, `!Condition c` is `{"Condition": "c"}`,
/// any other `!Name v` is `{"Fn::Name": v}`.
fn long_form(tag: Option<String>, value: Value) -> Value {
    match tag.as_deref() {
        None => value,
        Some("Ref") => json!({ "Ref": value }),
        Some("Condition") => json!({ "Condition": value }),
        Some("GetAtt") => match value {
            Value::String(s) => {
                let (resource, attribute) = s.split_once('.').unwrap();
                json!({ "Fn::GetAtt": [resource, attribute] })
            }
            other => json!({ "Fn::GetAtt": other }),
        },
        Some(name) => json!({ format!("Fn::{name}"): value }),
    }
}

fn cfn_tag(tag: Option<Tag>) -> Option<String> {
    tag.filter(|t| t.handle == "!").map(|t| t.suffix)
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        match event {
            Event::SequenceStart(_, tag) => self.open.push((json!([]), cfn_tag(tag), None)),
            Event::MappingStart(_, tag) => self.open.push((json!({}), cfn_tag(tag), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, tag, _) = self.open.pop().unwrap();
                self.push(long_form(tag, value));
            }
            Event::Scalar(text, style, _, tag) => {
                let value = match (style, Yaml::from_str(&text)) {
                    (TScalarStyle::Plain, Yaml::Integer(i)) => json!(i),
                    (TScalarStyle::Plain, Yaml::Boolean(b)) => json!(b),
                    (TScalarStyle::Plain, Yaml::Null) if tag.is_none() => Value::Null,
                    _ => Value::String(text),
                };
                self.push(long_form(cfn_tag(tag), value));
            }
            _ => {}
        }
    }
}

/// A template rendered for a set of parameters, in account 123456789012, us-east-1 (or `in_region`), stack
/// `egress-guard`. A resource's
/// `Ref` and `Fn::GetAtt` are what `resolve(logical id, attribute)` says (the attribute is `None` for `Ref`).
pub struct Stack<'a> {
    template: &'a Value,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    resolve: Box<Resolve<'a>>,
    region: String,
}

/// What a resource's `Ref` (attribute `None`) or `Fn::GetAtt` gives.
type Resolve<'a> = dyn Fn(&str, Option<&str>) -> Value + 'a;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const STACK: &str = "egress-guard";

impl<'a> Stack<'a> {
    /// The stack with `parameters` set and every other parameter at its default; a resource resolves to
    /// `<logical id>` for `Ref` and `<logical id>.<attribute>` for `Fn::GetAtt`.
    pub fn new(template: &'a Value, parameters: &[(&str, &str)]) -> Stack<'a> {
        Stack::resolving(template, parameters, |id, attribute| match attribute {
            None => json!(id),
            Some(a) => json!(format!("{id}.{a}")),
        })
    }

    pub fn resolving(
        template: &'a Value,
        parameters: &[(&str, &str)],
        resolve: impl Fn(&str, Option<&str>) -> Value + 'a,
    ) -> Stack<'a> {
        let declared = template["Parameters"].as_object().unwrap();
        for (name, _) in parameters {
            assert!(declared.contains_key(*name), "no parameter {name}");
        }
        let parameters = declared
            .iter()
            .map(|(name, declaration)| {
                let given = parameters.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_string());
                if let Some(value) = &given {
                    admitted(name, declaration, value);
                }
                let text = given.unwrap_or_else(|| match &declaration["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Null => panic!("parameter {name} has no default: give it"),
                    other => other.to_string(),
                });
                let value = if declaration["Type"] == "CommaDelimitedList" {
                    json!(text.split(',').map(str::trim).collect::<Vec<_>>())
                } else {
                    json!(text)
                };
                (name.clone(), value)
            })
            .collect();
        let mut stack = Stack {
            template,
            parameters,
            conditions: BTreeMap::new(),
            resolve: Box::new(resolve),
            region: REGION.to_owned(),
        };
        let names: Vec<String> =
            template["Conditions"].as_object().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        for name in names {
            let holds = stack.condition(&name);
            stack.conditions.insert(name, holds);
        }
        stack
    }

    /// The same stack deployed in `region` (`AWS::Region`).
    pub fn in_region(mut self, region: &str) -> Stack<'a> {
        self.region = region.to_owned();
        self
    }

    pub fn condition(&self, name: &str) -> bool {
        if let Some(holds) = self.conditions.get(name) {
            return *holds;
        }
        let definition = &self.template["Conditions"][name];
        assert!(!definition.is_null(), "no condition {name}");
        self.eval(definition).and_then(|v| v.as_bool()).unwrap_or_else(|| panic!("condition {name} is not a boolean"))
    }

    /// The resource `id` as deployed (`None` when its condition is false), its intrinsic functions evaluated.
    pub fn resource(&self, id: &str) -> Option<Value> {
        let resource = &self.template["Resources"][id];
        assert!(resource.is_object(), "no resource {id}");
        if let Some(condition) = resource["Condition"].as_str()
            && !self.condition(condition)
        {
            return None;
        }
        self.eval(resource)
    }

    /// The description of every rule (`Rules`) whose assertion fails: CloudFormation refuses the stack unless empty.
    pub fn refusals(&self) -> Vec<String> {
        let Some(rules) = self.template["Rules"].as_object() else { return vec![] };
        let mut refused = vec![];
        for (name, rule) in rules {
            let applies = rule.get("RuleCondition").is_none_or(|c| self.eval(c) == Some(json!(true)));
            if !applies {
                continue;
            }
            for assertion in rule["Assertions"].as_array().unwrap() {
                if self.eval(&assertion["Assert"]) != Some(json!(true)) {
                    refused.push(format!("{name}: {}", assertion["AssertDescription"].as_str().unwrap_or_default()));
                }
            }
        }
        refused
    }

    /// The value CloudFormation would use; `None` for `AWS::NoValue`.
    pub fn eval(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(|v| self.eval(v)).collect())),
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().unwrap();
                if key == "Ref" || key == "Condition" || key.starts_with("Fn::") {
                    self.function(key, arg)
                } else {
                    Some(Value::Object(self.object(map)))
                }
            }
            Value::Object(map) => Some(Value::Object(self.object(map))),
            other => Some(other.clone()),
        }
    }

    fn object(&self, map: &Map<String, Value>) -> Map<String, Value> {
        map.iter().filter_map(|(k, v)| self.eval(v).map(|v| (k.clone(), v))).collect()
    }

    fn args(&self, arg: &Value) -> Vec<Value> {
        match self.eval(arg) {
            Some(Value::Array(items)) => items,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    fn text(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn function(&self, name: &str, arg: &Value) -> Option<Value> {
        let value = match name {
            "Ref" => return self.reference(arg.as_str().unwrap()),
            "Condition" => json!(self.condition(arg.as_str().unwrap())),
            "Fn::If" => {
                let items = arg.as_array().unwrap();
                let branch = if self.condition(items[0].as_str().unwrap()) { &items[1] } else { &items[2] };
                return self.eval(branch);
            }
            "Fn::Equals" => {
                let items = self.args(arg);
                assert!(items.len() == 2 && items.iter().all(scalar), "Fn::Equals takes two strings: {items:?}");
                json!(Self::text(&items[0]) == Self::text(&items[1]))
            }
            "Fn::EachMemberIn" => {
                let items = self.args(arg);
                let allowed: Vec<String> = items[1].as_array().unwrap().iter().map(Self::text).collect();
                json!(items[0].as_array().unwrap().iter().all(|v| allowed.contains(&Self::text(v))))
            }
            "Fn::Not" => json!(!self.args(arg)[0].as_bool().unwrap()),
            "Fn::And" => json!(self.args(arg).iter().all(|v| v.as_bool().unwrap())),
            "Fn::Or" => json!(self.args(arg).iter().any(|v| v.as_bool().unwrap())),
            "Fn::Contains" => {
                let items = self.args(arg);
                let wanted = Self::text(&items[1]);
                json!(items[0].as_array().unwrap().iter().any(|v| Self::text(v) == wanted))
            }
            "Fn::Join" => {
                let items = self.args(arg);
                let parts: Vec<String> = items[1].as_array().unwrap().iter().map(Self::text).collect();
                json!(parts.join(items[0].as_str().unwrap()))
            }
            "Fn::Split" => {
                let items = self.args(arg);
                json!(Self::text(&items[1]).split(items[0].as_str().unwrap()).collect::<Vec<_>>())
            }
            "Fn::Select" => {
                let items = self.args(arg);
                let index: usize = Self::text(&items[0]).parse().unwrap();
                items[1].as_array().unwrap().get(index).cloned().expect("Fn::Select within its list")
            }
            "Fn::GetAtt" => {
                let items = arg.as_array().unwrap();
                let id = items[0].as_str().unwrap();
                assert!(self.template["Resources"][id].is_object(), "Fn::GetAtt of {id}: no such resource");
                (self.resolve)(id, Some(items[1].as_str().unwrap()))
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(items) => {
                        (items[0].as_str().unwrap().to_owned(), self.object(items[1].as_object().unwrap()))
                    }
                    other => panic!("Fn::Sub of {other}"),
                };
                json!(self.substitute(&text, &vars))
            }
            other => panic!("{other} is not rendered here"),
        };
        Some(value)
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(&Self::text(v));
            } else if let Some((id, attribute)) = name.split_once('.').filter(|(id, _)| !id.starts_with("AWS::")) {
                assert!(self.template["Resources"][id].is_object(), "${{{name}}}: no such resource");
                out.push_str(&Self::text(&(self.resolve)(id, Some(attribute))));
            } else {
                out.push_str(&Self::text(&self.reference(name).expect("a value")));
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn reference(&self, name: &str) -> Option<Value> {
        Some(match name {
            "AWS::NoValue" => return None,
            "AWS::AccountId" => json!(ACCOUNT),
            "AWS::Region" => json!(self.region),
            "AWS::Partition" => json!("aws"),
            "AWS::StackName" => json!(STACK),
            "AWS::URLSuffix" => json!("amazonaws.com"),
            _ => match self.parameters.get(name) {
                Some(value) => value.clone(),
                None => {
                    assert!(self.template["Resources"][name].is_object(), "Ref {name}: no such parameter or resource");
                    (self.resolve)(name, None)
                }
            },
        })
    }
}

fn scalar(value: &Value) -> bool {
    value.is_string() || value.is_number() || value.is_boolean()
}

/// CloudFormation refuses a parameter value outside its `AllowedValues`, or not matching its `AllowedPattern` (each
/// member of a list), before anything else.
fn admitted(name: &str, declaration: &Value, value: &str) {
    let members: Vec<&str> = if declaration["Type"] == "CommaDelimitedList" {
        value.split(',').map(str::trim).collect()
    } else {
        vec![value]
    };
    for member in members {
        if let Some(allowed) = declaration["AllowedValues"].as_array() {
            assert!(allowed.iter().any(|a| Stack::text(a) == member), "{name}={member:?} is not an allowed value");
        }
        if let Some(pattern) = declaration["AllowedPattern"].as_str() {
            let pattern = regex_lite::Regex::new(&format!("^(?:{pattern})$")).unwrap();
            assert!(pattern.is_match(member), "{name}={member:?} does not match its pattern");
        }
    }
}
