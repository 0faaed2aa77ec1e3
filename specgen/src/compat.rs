//! Which changes between two versions of the published document break clients.
//!
//! Client authors generate their code from `generated/openapi.json`, so a spec
//! edit that takes away something the previous document promised breaks them
//! the day the server ships it. [`breaking_changes`] compares two OpenAPI 3.0
//! documents (as JSON) and names every such change: the operation, the field,
//! and what happens to the clients that relied on it. Whoever edits `api/`
//! then either undoes the change or raises `info.version`'s major number
//! ([`major_version_raised`]) to tell clients the break is intended.
//!
//! The rule comes from who reads what:
//!
//! * **responses are read by clients**, so the new document may promise more
//!   (added fields, narrower types) but not less: a removed field, a field no
//!   longer `required`, a changed type or an enum with new values breaks the
//!   code that reads them;
//! * **requests are written by clients**, so the new document may accept more
//!   (optional fields, added enum values, wider types) but not less: a field,
//!   parameter or body that became required, a narrowed type or a removed
//!   enum value turns requests that worked into 400s.
//!
//! Operations are matched by method and path (path parameter names do not
//! matter to a client); a changed `operationId` is a break of its own, since
//! generated clients name their methods after it. Schemas are compared after
//! following `$ref`s and merging `allOf` (and, as optional alternatives,
//! `anyOf`/`oneOf`), recursively into nested objects, array items and maps,
//! with protection against recursive schemas.
//!
//! Not covered: security requirements, formats, and length/range limits.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use crate::OPERATION_METHODS as METHODS;

use serde_json::Value;

/// One change that breaks clients written against the old document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakingChange {
    /// The operation as the old document describes it: the one clients call.
    pub operation: Operation,
    pub change: Change,
}

/// An operation, named the way client authors know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
}

/// What changed, from the point of view of the clients it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The method and path are gone.
    OperationRemoved,
    /// Same method and path, another `operationId`: generated clients name
    /// their methods after it.
    OperationRenamed { new_id: String },
    /// A success status is no longer documented.
    ResponseRemoved { status: String },
    /// A status that had a body has none any more.
    ResponseBodyRemoved { status: String },
    /// A status may now come as a media type that none of the old ones
    /// (`known`) covers.
    ResponseMediaTypeAdded { status: String, media_type: String, known: Vec<String> },
    /// A property of a response body is gone. `field` is a dotted path,
    /// `[]` standing for array items and `*` for map values.
    ResponseFieldRemoved { status: String, field: String },
    /// A response header is gone.
    ResponseHeaderRemoved { status: String, header: String },
    /// A property was `required` in a response and no longer is.
    ResponseFieldNoLongerRequired { status: String, field: String },
    /// A response value may now have a type old clients do not parse
    /// (`field` is empty for the body itself).
    ResponseFieldTypeChanged { status: String, field: String, old: String, new: String },
    /// A response value may now be outside its old enum: `added` lists the
    /// new values, and is empty when the enum was dropped altogether.
    ResponseFieldEnumWidened { status: String, field: String, added: Vec<String> },
    /// The request body was optional or absent and is now required.
    RequestBodyBecameRequired,
    /// The request body no longer accepts a media type it accepted; it now
    /// accepts only those in `accepted`.
    RequestMediaTypeRemoved { media_type: String, accepted: Vec<String> },
    /// A request field or parameter must now be sent: it existed and was
    /// optional, or it is new (`added`).
    RequestFieldBecameRequired { field: Field, added: bool },
    /// A request value's type no longer admits `refused` (a description such
    /// as `null` or `a string`).
    RequestFieldTypeNarrowed { field: Field, old: String, new: String, refused: String },
    /// A request value's enum lost the values in `refused`.
    RequestFieldEnumNarrowed { field: Field, refused: Vec<String> },
    /// A request value that took anything of its type now takes only `allowed`.
    RequestFieldRestrictedToEnum { field: Field, allowed: Vec<String> },
    /// A request property is gone from a schema that refuses unknown
    /// properties (`additionalProperties: false`).
    RequestFieldRefused { field: Field },
}

/// A value a client sends: in the body or as a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub place: Place,
    /// Dotted path inside the body or parameter (the parameter's name comes
    /// first); empty for the body itself.
    pub path: String,
}

/// Where a request value travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Body,
    Query,
    Path,
    Header,
    Cookie,
}

/// Every change in `new` that breaks clients written against `old`, in the
/// old document's order. Both are OpenAPI 3.0 documents as JSON.
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<BreakingChange> {
    let old_doc = Doc { root: old };
    let new_doc = Doc { root: new };
    let new_ops = operations(new_doc);
    let mut found = Vec::new();
    for old_op in operations(old_doc) {
        let mut cmp = Comparison {
            old: old_doc,
            new: new_doc,
            operation: old_op.operation.clone(),
            found: &mut found,
            stack: HashSet::new(),
        };
        match new_ops.iter().find(|n| n.key == old_op.key) {
            None => cmp.push(Change::OperationRemoved),
            Some(new_op) => cmp.operation_pair(&old_op, new_op),
        }
    }
    found
}

/// Whether `info.version`'s major number is higher in `new` than in `old`:
/// the spec editor's way of saying "this release breaks clients on purpose".
///
/// Versions are read semver-ish: `1.0.0`, `1.2`, `2` and `v2` all work; a
/// version whose major cannot be read is never taken as raised.
pub fn major_version_raised(old: &Value, new: &Value) -> bool {
    match (major_version(old), major_version(new)) {
        (Some(old), Some(new)) => new > old,
        _ => false,
    }
}

/// The leading number of `info.version`, after an optional `v`.
fn major_version(document: &Value) -> Option<u64> {
    let version = document.pointer("/info/version")?.as_str()?.trim();
    let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------
// Messages

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(id) = &self.operation_id {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}

impl Operation {
    /// How client code calls this operation: `login()`, or `it` when the
    /// operation has no `operationId` to name a method after.
    fn call(&self) -> String {
        self.operation_id.as_ref().map_or_else(|| "it".to_owned(), |id| format!("{id}()"))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match self.place {
            Place::Body if self.path.is_empty() => return f.write_str("request body"),
            Place::Body => "request field",
            Place::Query => "query parameter",
            Place::Path => "path parameter",
            Place::Header => "header parameter",
            Place::Cookie => "cookie parameter",
        };
        write!(f, "{place} {}", self.path)
    }
}

/// `response field a.b`, or `response body` for the body itself.
fn response_subject(field: &str) -> String {
    if field.is_empty() { "response body".to_owned() } else { format!("response field {field}") }
}

impl fmt::Display for BreakingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = &self.operation;
        match &self.change {
            Change::OperationRemoved => write!(f, "removed operation {op}: clients calling {} get 404", op.call()),
            Change::OperationRenamed { new_id } => write!(
                f,
                "operation {op} was renamed to {new_id}: code calling {} on a generated client no longer builds",
                op.call()
            ),
            Change::ResponseRemoved { status } => {
                write!(f, "response {status} of {op} was removed: clients expecting it break")
            }
            Change::ResponseBodyRemoved { status } => {
                write!(f, "response {status} of {op} no longer has a body: clients reading it break")
            }
            Change::ResponseMediaTypeAdded { status, media_type, known } => write!(
                f,
                "response {status} of {op} may now come as {media_type}: clients parsing it as {} break",
                known.join(" or ")
            ),
            Change::ResponseFieldRemoved { status, field } => {
                write!(f, "{} of {status} from {op} was removed: clients reading it break", response_subject(field))
            }
            Change::ResponseHeaderRemoved { status, header } => {
                write!(f, "response header {header} of {status} from {op} was removed: clients reading it break")
            }
            Change::ResponseFieldNoLongerRequired { status, field } => write!(
                f,
                "{} of {status} from {op} is no longer required: clients relying on it being present break",
                response_subject(field)
            ),
            Change::ResponseFieldTypeChanged { status, field, old, new } => write!(
                f,
                "{} of {status} from {op} changed type from {old} to {new}: clients parsing it as {old} break",
                response_subject(field)
            ),
            Change::ResponseFieldEnumWidened { status, field, added } if added.is_empty() => write!(
                f,
                "{} of {status} from {op} is no longer limited to its enum: clients matching on its known values break",
                response_subject(field)
            ),
            Change::ResponseFieldEnumWidened { status, field, added } => write!(
                f,
                "{} of {status} from {op} may now be {}: clients matching on its known values break",
                response_subject(field),
                added.join(", ")
            ),
            Change::RequestBodyBecameRequired => {
                write!(f, "request body of {op} became required: clients that send none get 400")
            }
            Change::RequestMediaTypeRemoved { media_type, accepted } => write!(
                f,
                "request body of {op} no longer accepts {media_type}, only {}: clients sending {} get 415",
                accepted.join(", "),
                if media_type.contains('*') { "other media types" } else { media_type }
            ),
            Change::RequestFieldBecameRequired { field, added: false } => {
                write!(f, "{field} of {op} became required: clients that leave it out get 400")
            }
            Change::RequestFieldBecameRequired { field, added: true } => {
                write!(f, "{field} of {op} was added as required: clients written before it leave it out and get 400")
            }
            Change::RequestFieldTypeNarrowed { field, old, new, refused } => {
                write!(f, "{field} of {op} changed type from {old} to {new}: clients sending {refused} get 400")
            }
            Change::RequestFieldEnumNarrowed { field, refused } => write!(
                f,
                "{field} of {op} no longer accepts {}: clients sending {} get 400",
                refused.join(", "),
                if refused.len() == 1 { "it" } else { "them" }
            ),
            Change::RequestFieldRestrictedToEnum { field, allowed } => write!(
                f,
                "{field} of {op} now only accepts {}: clients sending other values get 400",
                allowed.join(", ")
            ),
            Change::RequestFieldRefused { field } => {
                write!(f, "{field} of {op} was removed and unknown fields are refused: clients sending it get 400")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Documents and operations

/// How deep schema comparison goes before giving up: deeper than any real
/// schema, shallow enough that a pathological one cannot take forever.
const MAX_DEPTH: usize = 64;

/// A document, for following its local `$ref`s.
#[derive(Clone, Copy)]
struct Doc<'a> {
    root: &'a Value,
}

impl<'a> Doc<'a> {
    /// Follows `$ref`s (any local JSON pointer: schemas, parameters, request
    /// bodies, responses, headers) to what they point at. The published
    /// document only has local refs; anything else, or a loop of refs, stays
    /// as it is and so compares as an unconstrained schema.
    fn resolve(self, mut value: &'a Value) -> &'a Value {
        for _ in 0..MAX_DEPTH {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else { return value };
            let Some(target) = reference.strip_prefix('#').and_then(|pointer| self.root.pointer(pointer)) else {
                return value;
            };
            value = target;
        }
        value
    }
}

/// One operation of a document, with what is needed to match and compare it.
struct OperationEntry<'a> {
    operation: Operation,
    /// Method and path with parameter names blanked (`POST /rooms/{}/join`):
    /// renaming a path parameter changes nothing for a client.
    key: String,
    value: &'a Value,
    /// The path item's own `parameters`, shared by its operations.
    path_parameters: Option<&'a Value>,
}

/// Every operation of `doc`, in document order.
fn operations(doc: Doc<'_>) -> Vec<OperationEntry<'_>> {
    let Some(paths) = doc.root.get("paths").and_then(Value::as_object) else { return Vec::new() };
    let mut found = Vec::new();
    for (path, item) in paths {
        let item = doc.resolve(item);
        for method in METHODS {
            let Some(value) = item.get(method) else { continue };
            let method = method.to_uppercase();
            found.push(OperationEntry {
                key: format!("{method} {}", blank_parameter_names(path)),
                operation: Operation {
                    method,
                    path: path.clone(),
                    operation_id: value.get("operationId").and_then(Value::as_str).map(str::to_owned),
                },
                value,
                path_parameters: item.get("parameters"),
            });
        }
    }
    found
}

/// `/rooms/{roomId}/join` → `/rooms/{}/join`.
fn blank_parameter_names(path: &str) -> String {
    let mut blanked = String::with_capacity(path.len());
    let mut in_braces = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_braces = true;
                blanked.push_str("{}");
            }
            '}' => in_braces = false,
            _ if in_braces => {}
            _ => blanked.push(c),
        }
    }
    blanked
}

/// A request parameter, resolved.
struct Parameter<'a> {
    place: Place,
    name: &'a str,
    /// What identifies the parameter to a client: its name, except for path
    /// parameters, which clients fill in by position (`{roomId}` renamed
    /// `{room_id}` is the same parameter).
    slot: String,
    required: bool,
    schema: Option<&'a Value>,
}

/// The parameters of an operation: the path item's, overridden by the
/// operation's own with the same name and location.
fn parameters<'a>(doc: Doc<'a>, entry: &OperationEntry<'a>) -> Vec<Parameter<'a>> {
    let lists = [entry.path_parameters, entry.value.get("parameters")];
    let mut found: Vec<Parameter<'a>> = Vec::new();
    for list in lists.into_iter().flatten().filter_map(Value::as_array) {
        for parameter in list {
            let parameter = doc.resolve(parameter);
            let (Some(name), Some(place)) = (parameter.get("name").and_then(Value::as_str), place_of(parameter)) else {
                continue;
            };
            let required = place == Place::Path || parameter.get("required") == Some(&Value::Bool(true));
            let schema = parameter.get("schema").or_else(|| first_media_schema(parameter));
            let slot = match place {
                Place::Path => path_slot(&entry.operation.path, name),
                _ => name.to_owned(),
            };
            found.retain(|p| !(p.place == place && p.name == name));
            found.push(Parameter { place, name, slot, required, schema });
        }
    }
    found
}

/// The position of `name` among the path's parameters (`{0}` for `roomId`
/// in `/rooms/{roomId}/state/{eventType}`), or the name itself when the path
/// does not mention it.
fn path_slot(path: &str, name: &str) -> String {
    let names = path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name);
    names.enumerate().find(|(_, n)| *n == name).map_or_else(|| name.to_owned(), |(index, _)| format!("{{{index}}}"))
}

fn place_of(parameter: &Value) -> Option<Place> {
    Some(match parameter.get("in")?.as_str()? {
        "query" => Place::Query,
        "path" => Place::Path,
        "header" => Place::Header,
        "cookie" => Place::Cookie,
        _ => return None,
    })
}

/// The schema of a parameter described with `content` instead of `schema`.
fn first_media_schema(value: &Value) -> Option<&Value> {
    value.get("content")?.as_object()?.values().find_map(|media| media.get("schema"))
}

/// The `content` of a request body or response, when it lists any media type.
fn content(value: &Value) -> Option<&serde_json::Map<String, Value>> {
    value.get("content").and_then(Value::as_object).filter(|content| !content.is_empty())
}

/// Whether the media range `range` (`*/*`, `image/*`, `application/json`)
/// includes `media_type`; parameters such as `; charset=utf-8` are ignored.
fn media_range_covers(range: &str, media_type: &str) -> bool {
    let essence = |m: &str| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (range, media_type) = (essence(range), essence(media_type));
    match range.split_once('/') {
        _ if range == media_type || range == "*/*" => true,
        Some((kind, "*")) => media_type.split_once('/').is_some_and(|(other, _)| other == kind),
        _ => false,
    }
}

fn is_required(value: &Value) -> bool {
    value.get("required") == Some(&Value::Bool(true))
}

// ---------------------------------------------------------------------------
// Schemas

/// What a schema says about a value, with `$ref`s followed and `allOf`,
/// `anyOf` and `oneOf` merged into one flat description.
#[derive(Default)]
struct Shape<'a> {
    /// JSON types (`null` for `nullable`); `None` when any type goes.
    types: Option<BTreeSet<String>>,
    enumeration: Option<Vec<&'a Value>>,
    properties: Vec<(&'a str, &'a Value)>,
    required: BTreeSet<&'a str>,
    items: Option<&'a Value>,
    additional: Additional<'a>,
}

/// What a schema says about properties it does not name.
#[derive(Default, Clone, Copy)]
enum Additional<'a> {
    #[default]
    Allowed,
    Refused,
    /// A map: every other property's value follows this schema.
    Schema(&'a Value),
}

impl<'a> Shape<'a> {
    fn property(&self, name: &str) -> Option<&'a Value> {
        self.properties.iter().find(|(n, _)| *n == name).map(|(_, schema)| *schema)
    }

    fn has_property(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    /// Adds an `allOf` member: the value must satisfy both.
    fn merge_all(&mut self, member: Shape<'a>) {
        self.types = match (self.types.take(), member.types) {
            (Some(ours), Some(theirs)) => Some(ours.intersection(&theirs).cloned().collect()),
            (ours, theirs) => ours.or(theirs),
        };
        if self.enumeration.is_none() {
            self.enumeration = member.enumeration;
        }
        self.add_properties(member.properties);
        self.required.extend(member.required);
        self.items = self.items.or(member.items);
        if matches!(self.additional, Additional::Allowed) {
            self.additional = member.additional;
        }
    }

    /// Adds `anyOf`/`oneOf` alternatives: the value satisfies one of them, so
    /// their properties are all possible and none is required.
    fn merge_any(&mut self, alternatives: Vec<Shape<'a>>) {
        if self.types.is_none() {
            self.types = alternatives.iter().try_fold(BTreeSet::new(), |mut all, alternative| {
                all.extend(alternative.types.clone()?);
                Some(all)
            });
        }
        if self.enumeration.is_none() {
            self.enumeration = alternatives.iter().try_fold(Vec::new(), |mut all, alternative| {
                all.extend(alternative.enumeration.clone()?);
                Some(all)
            });
        }
        for alternative in alternatives {
            self.add_properties(alternative.properties);
            self.items = self.items.or(alternative.items);
        }
    }

    fn add_properties(&mut self, properties: Vec<(&'a str, &'a Value)>) {
        for (name, schema) in properties {
            if !self.has_property(name) {
                self.properties.push((name, schema));
            }
        }
    }

    /// A schema without `type` that lists properties or items still describes
    /// an object or an array; saying so keeps `{properties: …}` and
    /// `{type: object, properties: …}` from comparing as a type change.
    fn infer_type(&mut self) {
        if self.types.is_some() {
            return;
        }
        if !self.properties.is_empty() || !matches!(self.additional, Additional::Allowed) {
            self.types = Some(BTreeSet::from(["object".to_owned()]));
        } else if self.items.is_some() {
            self.types = Some(BTreeSet::from(["array".to_owned()]));
        }
    }
}

/// The flat [`Shape`] of `schema` in `doc`.
fn shape<'a>(doc: Doc<'a>, schema: &'a Value) -> Shape<'a> {
    let mut shape = shape_of(doc, schema, &mut HashSet::new());
    shape.infer_type();
    shape
}

/// [`shape`], remembering in `seen` the schemas already merged so that a
/// schema that includes itself through `allOf` ends instead of looping.
fn shape_of<'a>(doc: Doc<'a>, schema: &'a Value, seen: &mut HashSet<*const Value>) -> Shape<'a> {
    let schema = doc.resolve(schema);
    let mut shape = Shape::default();
    if !seen.insert(schema) {
        return shape;
    }
    shape.types = declared_types(schema);
    shape.enumeration = schema.get("enum").and_then(Value::as_array).map(|values| values.iter().collect());
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        shape.properties = properties.iter().map(|(name, schema)| (name.as_str(), schema)).collect();
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        shape.required = required.iter().filter_map(Value::as_str).collect();
    }
    shape.items = schema.get("items");
    shape.additional = match schema.get("additionalProperties") {
        Some(Value::Bool(false)) => Additional::Refused,
        Some(map @ Value::Object(_)) => Additional::Schema(map),
        _ => Additional::Allowed,
    };
    for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        let member = shape_of(doc, member, seen);
        shape.merge_all(member);
    }
    let alternatives: Vec<Shape<'a>> = ["anyOf", "oneOf"]
        .into_iter()
        .filter_map(|keyword| schema.get(keyword).and_then(Value::as_array))
        .flatten()
        .map(|alternative| {
            let mut alternative = shape_of(doc, alternative, seen);
            alternative.infer_type();
            alternative
        })
        .collect();
    if !alternatives.is_empty() {
        shape.merge_any(alternatives);
    }
    shape
}

/// `type` (a string in 3.0, a list in 3.1) plus `null` for `nullable: true`.
fn declared_types(schema: &Value) -> Option<BTreeSet<String>> {
    let mut types: BTreeSet<String> = match schema.get("type")? {
        Value::String(single) => BTreeSet::from([single.clone()]),
        Value::Array(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return None,
    };
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        types.insert("null".to_owned());
    }
    Some(types)
}

/// Whether a value of JSON type `kind` is valid for `types`: an integer is
/// also a number.
fn admits(types: &BTreeSet<String>, kind: &str) -> bool {
    types.contains(kind) || (kind == "integer" && types.contains("number"))
}

/// The types in `produced` that a reader expecting `expected` cannot take;
/// `None` when it takes them all. `Some(empty)` means anything may now be
/// produced while the reader expected less. Responses call it with the old
/// types as expected (clients read), requests with the new ones (the server
/// reads what old clients send).
fn unexpected_types(expected: &Option<BTreeSet<String>>, produced: &Option<BTreeSet<String>>) -> Option<Vec<String>> {
    match (expected, produced) {
        (None, _) => None,
        (Some(_), None) => Some(Vec::new()),
        (Some(expected), Some(produced)) => {
            let unexpected: Vec<String> = produced.iter().filter(|t| !admits(expected, t)).cloned().collect();
            (!unexpected.is_empty()).then_some(unexpected)
        }
    }
}

/// `string`, `string or null`, `any type`.
fn describe_types(types: &Option<BTreeSet<String>>) -> String {
    match types {
        None => "any type".to_owned(),
        Some(types) if types.is_empty() => "no type".to_owned(),
        Some(types) => types.iter().map(String::as_str).collect::<Vec<_>>().join(" or "),
    }
}

/// `a string`, `an integer`, `null`: what a client sends, for messages.
fn type_noun(kind: &str) -> String {
    match kind {
        "null" => "null".to_owned(),
        "integer" | "object" | "array" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// Enum values as they appear in JSON (`"guest"`, `3`).
fn enum_values(values: &[&Value]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// `parent.child`, `parent[]`, or `child` at the top.
fn child_path(parent: &str, segment: &str) -> String {
    match (parent.is_empty(), segment) {
        (_, "[]") => format!("{parent}[]"),
        (true, _) => segment.to_owned(),
        (false, _) => format!("{parent}.{segment}"),
    }
}

// ---------------------------------------------------------------------------
// Comparison

/// Compares one operation of the old document with its counterpart.
struct Comparison<'a, 'f> {
    old: Doc<'a>,
    new: Doc<'a>,
    operation: Operation,
    found: &'f mut Vec<BreakingChange>,
    /// The (old, new) schema pairs being compared further up: meeting one
    /// again means a recursive schema, already being compared.
    stack: HashSet<(*const Value, *const Value)>,
}

impl<'a> Comparison<'a, '_> {
    /// Records a change once: a schema shared by two media types or reached
    /// twice through `allOf` is one break, not two.
    fn push(&mut self, change: Change) {
        let change = BreakingChange { operation: self.operation.clone(), change };
        if !self.found.contains(&change) {
            self.found.push(change);
        }
    }

    fn operation_pair(&mut self, old: &OperationEntry<'a>, new: &OperationEntry<'a>) {
        if let Some(old_id) = &old.operation.operation_id
            && new.operation.operation_id.as_ref() != Some(old_id)
        {
            let new_id = new.operation.operation_id.clone().unwrap_or_else(|| "nothing".to_owned());
            self.push(Change::OperationRenamed { new_id });
        }
        self.parameters(old, new);
        self.request_body(old.value.get("requestBody"), new.value.get("requestBody"));
        self.responses(old.value.get("responses"), new.value.get("responses"));
    }

    /// New required parameters, parameters that became required, and
    /// narrowed parameter schemas. A removed parameter is ignored by servers,
    /// so it breaks nobody.
    fn parameters(&mut self, old: &OperationEntry<'a>, new: &OperationEntry<'a>) {
        let old_parameters = parameters(self.old, old);
        for new_parameter in parameters(self.new, new) {
            let field = Field { place: new_parameter.place, path: new_parameter.name.to_owned() };
            let old_parameter =
                old_parameters.iter().find(|p| p.place == new_parameter.place && p.slot == new_parameter.slot);
            match old_parameter {
                None if new_parameter.required => {
                    self.push(Change::RequestFieldBecameRequired { field, added: true });
                }
                None => {}
                Some(old_parameter) => {
                    if new_parameter.required && !old_parameter.required {
                        self.push(Change::RequestFieldBecameRequired { field: field.clone(), added: false });
                    }
                    if let (Some(old_schema), Some(new_schema)) = (old_parameter.schema, new_parameter.schema) {
                        self.request_schema(old_schema, new_schema, &field, 0);
                    }
                }
            }
        }
    }

    /// A body that became required, a media type no longer accepted, and the
    /// schema of every media type both accept.
    fn request_body(&mut self, old: Option<&'a Value>, new: Option<&'a Value>) {
        let old = old.map(|body| self.old.resolve(body));
        let Some(new) = new.map(|body| self.new.resolve(body)) else { return };
        if is_required(new) && !old.is_some_and(is_required) {
            self.push(Change::RequestBodyBecameRequired);
        }
        let (Some(old_content), Some(new_content)) = (old.and_then(content), content(new)) else { return };
        for (media_type, old_media) in old_content {
            let Some(new_media) = new_content.get(media_type) else {
                if !new_content.keys().any(|range| media_range_covers(range, media_type)) {
                    let accepted = new_content.keys().cloned().collect();
                    self.push(Change::RequestMediaTypeRemoved { media_type: media_type.clone(), accepted });
                }
                continue;
            };
            if let Some((old_schema, new_schema)) = self.structured_schemas(old_media, new_media) {
                let body = Field { place: Place::Body, path: String::new() };
                self.request_schema(old_schema, new_schema, &body, 0);
            }
        }
    }

    /// The schemas of one media type in both documents, when they describe
    /// structure worth comparing: not when the old one is raw bytes
    /// (`format: binary`), which clients pass along without looking inside.
    fn structured_schemas(&self, old_media: &'a Value, new_media: &'a Value) -> Option<(&'a Value, &'a Value)> {
        let (old_schema, new_schema) = (old_media.get("schema")?, new_media.get("schema")?);
        let binary = self.old.resolve(old_schema).get("format").and_then(Value::as_str) == Some("binary");
        (!binary).then_some((old_schema, new_schema))
    }

    /// What clients sent under `old` that `new` refuses.
    fn request_schema(&mut self, old: &'a Value, new: &'a Value, field: &Field, depth: usize) {
        let (old, new) = (self.old.resolve(old), self.new.resolve(new));
        let pair = (old as *const Value, new as *const Value);
        if depth > MAX_DEPTH || !self.stack.insert(pair) {
            return;
        }
        let (o, n) = (shape(self.old, old), shape(self.new, new));
        if self.request_narrowed(&o, &n, field) {
            self.stack.remove(&pair);
            return;
        }
        for name in &n.required {
            if !o.required.contains(name) {
                let field = Field { place: field.place, path: child_path(&field.path, name) };
                self.push(Change::RequestFieldBecameRequired { field, added: !o.has_property(name) });
            }
        }
        for (name, old_property) in &o.properties {
            let child = Field { place: field.place, path: child_path(&field.path, name) };
            match n.property(name) {
                Some(new_property) => self.request_schema(old_property, new_property, &child, depth + 1),
                None if matches!(n.additional, Additional::Refused) => {
                    self.push(Change::RequestFieldRefused { field: child });
                }
                None => {}
            }
        }
        if let (Some(old_items), Some(new_items)) = (o.items, n.items) {
            let child = Field { place: field.place, path: child_path(&field.path, "[]") };
            self.request_schema(old_items, new_items, &child, depth + 1);
        }
        if let (Additional::Schema(old_map), Additional::Schema(new_map)) = (o.additional, n.additional) {
            let child = Field { place: field.place, path: child_path(&field.path, "*") };
            self.request_schema(old_map, new_map, &child, depth + 1);
        }
        self.stack.remove(&pair);
    }

    /// Reports a narrowed type or enum; true when the type changed, since
    /// what lies below a changed type is then moot.
    fn request_narrowed(&mut self, o: &Shape<'a>, n: &Shape<'a>, field: &Field) -> bool {
        if let Some(refused) = unexpected_types(&n.types, &o.types) {
            let refused = if refused.is_empty() {
                format!("anything but {}", describe_types(&n.types))
            } else {
                refused.iter().map(|kind| type_noun(kind)).collect::<Vec<_>>().join(" or ")
            };
            let (old, new) = (describe_types(&o.types), describe_types(&n.types));
            self.push(Change::RequestFieldTypeNarrowed { field: field.clone(), old, new, refused });
            return true;
        }
        match (&o.enumeration, &n.enumeration) {
            (_, None) => {}
            (None, Some(allowed)) => {
                self.push(Change::RequestFieldRestrictedToEnum { field: field.clone(), allowed: enum_values(allowed) });
            }
            (Some(old_values), Some(new_values)) => {
                let refused: Vec<&Value> = old_values.iter().filter(|v| !new_values.contains(v)).copied().collect();
                if !refused.is_empty() {
                    self.push(Change::RequestFieldEnumNarrowed {
                        field: field.clone(),
                        refused: enum_values(&refused),
                    });
                }
            }
        }
        false
    }

    /// Every status of the old document: success statuses must stay, and
    /// whatever stays must keep what clients read from it. A removed error
    /// status breaks nobody: clients simply stop seeing it.
    fn responses(&mut self, old: Option<&'a Value>, new: Option<&'a Value>) {
        let Some(old) = old.and_then(Value::as_object) else { return };
        for (status, old_response) in old {
            let old_response = self.old.resolve(old_response);
            let Some(new_response) = new.and_then(|responses| responses.get(status)) else {
                if status.starts_with('2') {
                    self.push(Change::ResponseRemoved { status: status.clone() });
                }
                continue;
            };
            let new_response = self.new.resolve(new_response);
            self.response_headers(status, old_response, new_response);
            self.response_content(status, old_response, new_response);
        }
    }

    /// Clients of a status parse each media type the old document lists for
    /// it: the server may drop some, but not send one they do not know.
    fn response_content(&mut self, status: &str, old: &'a Value, new: &'a Value) {
        let Some(old_content) = content(old) else { return };
        let Some(new_content) = content(new) else {
            self.push(Change::ResponseBodyRemoved { status: status.to_owned() });
            return;
        };
        for media_type in new_content.keys() {
            if !old_content.keys().any(|range| media_range_covers(range, media_type)) {
                let known = old_content.keys().cloned().collect();
                let media_type = media_type.clone();
                self.push(Change::ResponseMediaTypeAdded { status: status.to_owned(), media_type, known });
            }
        }
        for (media_type, old_media) in old_content {
            let Some(new_media) = new_content.get(media_type) else { continue };
            if let Some((old_schema, new_schema)) = self.structured_schemas(old_media, new_media) {
                self.response_schema(status, old_schema, new_schema, "", 0);
            }
        }
    }

    fn response_headers(&mut self, status: &str, old: &'a Value, new: &'a Value) {
        let Some(old_headers) = old.get("headers").and_then(Value::as_object) else { return };
        for header in old_headers.keys() {
            let kept = new
                .get("headers")
                .and_then(Value::as_object)
                .is_some_and(|headers| headers.keys().any(|name| name.eq_ignore_ascii_case(header)));
            if !kept {
                self.push(Change::ResponseHeaderRemoved { status: status.to_owned(), header: header.clone() });
            }
        }
    }

    /// What clients read under `old` that `new` no longer promises.
    fn response_schema(&mut self, status: &str, old: &'a Value, new: &'a Value, path: &str, depth: usize) {
        let (old, new) = (self.old.resolve(old), self.new.resolve(new));
        let pair = (old as *const Value, new as *const Value);
        if depth > MAX_DEPTH || !self.stack.insert(pair) {
            return;
        }
        let (o, n) = (shape(self.old, old), shape(self.new, new));
        if self.response_widened(status, &o, &n, path) {
            self.stack.remove(&pair);
            return;
        }
        for (name, old_property) in &o.properties {
            let child = child_path(path, name);
            let Some(new_property) = n.property(name) else {
                self.push(Change::ResponseFieldRemoved { status: status.to_owned(), field: child });
                continue;
            };
            if o.required.contains(name) && !n.required.contains(name) {
                let field = child.clone();
                self.push(Change::ResponseFieldNoLongerRequired { status: status.to_owned(), field });
            }
            self.response_schema(status, old_property, new_property, &child, depth + 1);
        }
        if let (Some(old_items), Some(new_items)) = (o.items, n.items) {
            self.response_schema(status, old_items, new_items, &child_path(path, "[]"), depth + 1);
        }
        if let (Additional::Schema(old_map), Additional::Schema(new_map)) = (o.additional, n.additional) {
            self.response_schema(status, old_map, new_map, &child_path(path, "*"), depth + 1);
        }
        self.stack.remove(&pair);
    }

    /// Reports a response value that may now be of another type or outside
    /// its enum; true when the type changed, since what lies below is moot.
    fn response_widened(&mut self, status: &str, o: &Shape<'a>, n: &Shape<'a>, path: &str) -> bool {
        if unexpected_types(&o.types, &n.types).is_some() {
            let (old, new) = (describe_types(&o.types), describe_types(&n.types));
            self.push(Change::ResponseFieldTypeChanged { status: status.to_owned(), field: path.to_owned(), old, new });
            return true;
        }
        if let Some(old_values) = &o.enumeration {
            let added = match &n.enumeration {
                None => Some(Vec::new()),
                Some(new_values) => {
                    let added: Vec<&Value> = new_values.iter().filter(|v| !old_values.contains(v)).copied().collect();
                    (!added.is_empty()).then(|| enum_values(&added))
                }
            };
            if let Some(added) = added {
                self.push(Change::ResponseFieldEnumWidened {
                    status: status.to_owned(),
                    field: path.to_owned(),
                    added,
                });
            }
        }
        false
    }
}
