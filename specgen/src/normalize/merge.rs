//! Merging the converted documents into one OpenAPI 3.0 document.
//!
//! * every operation is placed once per prefix at its full path
//!   (`/_matrix/client/v3/login`); its `operationId` in the document is the
//!   route id (the YAML's id for the first prefix, id + `_` + prefix suffix
//!   for the others: `login_R0`, which generators turn into `login_r0`
//!   and, after an acronym, `add_3pid_r0` where `add3PIDR0` gave
//!   `add_3pidr0`);
//! * an operation without `operationId` is an error under
//!   [`crate::Options::strict`] (a warning otherwise, for third-party trees)
//!   and gets one derived from method and path meanwhile; the same id on
//!   two operations, or the same path and
//!   method twice, is an error naming both places;
//! * `info`, `servers`, `tags` and security schemes come from the root
//!   folder's `index.yaml` when there is one; tags are completed with every
//!   tag an operation uses;
//! * each unit (operation, schema, security scheme) is deserialized into its
//!   `openapiv3` type on its own: a unit that does not fit is an error at
//!   its source location and is left out, and keys `openapiv3` would
//!   silently drop are reported as warnings.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::registry::rename_refs;
use super::{DocumentParts, Normalizer, OperationUnit, Prov, Provenance, names};
use crate::diagnostics::{Diagnostic, Location, Rule, Severity};
use crate::load::FileId;
use crate::refs;
use crate::{Route, Spec};

pub(crate) fn merge(mut cx: Normalizer<'_>, mut parts: Vec<(FileId, DocumentParts)>) -> Spec {
    let tree = cx.tree;
    let index = tree.index_document();
    // The index document's schemes and tags come first.
    parts.sort_by_key(|(file, _)| Some(*file) != index);

    let renames = cx.registry.dedupe();
    let mut provenance = Provenance::default();
    let mut document = Map::new();
    document.insert("openapi".into(), json!("3.0.3"));

    // info and servers
    let index_value = index.and_then(|id| tree.files[id].value.as_ref());
    let index_location = index.map(|id| Location::file(tree.files[id].display.clone()));
    let mut info = json!({"title": tree.root_name(), "version": "0.0.0"});
    let mut servers = json!([{"url": "/"}]);
    if let (Some(value), Some(location)) = (index_value, &index_location) {
        if let Some(index_info) = value.get("info")
            && let Some(checked) =
                typed::<openapiv3::Info>(&mut cx, index_info, &location.child("info"), &Prov::default())
        {
            info = checked;
        }
        if let Some(index_servers) = value.get("servers")
            && let Some(checked) =
                typed::<Vec<openapiv3::Server>>(&mut cx, index_servers, &location.child("servers"), &Prov::default())
        {
            servers = checked;
        }
    }
    document.insert("info".into(), info);
    document.insert("servers".into(), servers);

    // operations → paths and routes
    let mut paths: Map<String, Value> = Map::new();
    let mut routes: Vec<Route> = Vec::new();
    let mut operation_ids: HashMap<String, Location> = HashMap::new();
    let mut placed: HashMap<(String, String), Location> = HashMap::new();
    let mut route_ids: BTreeSet<String> = BTreeSet::new();
    let mut used_tags: BTreeSet<String> = BTreeSet::new();
    let mut declared_tags: Vec<Value> = Vec::new();
    let mut security_schemes: Map<String, Value> = Map::new();
    let mut scheme_sources: HashMap<String, (Value, Location)> = HashMap::new();
    let mut operations = 0;

    for (_, part) in parts {
        for tag in part.tags {
            let name = tag.get("name").and_then(Value::as_str).map(str::to_owned);
            let known = declared_tags.iter().any(|t| t.get("name").and_then(Value::as_str) == name.as_deref());
            if name.is_some() && !known {
                declared_tags.push(tag);
            }
        }
        for (name, scheme, location) in part.security_schemes {
            match scheme_sources.get(&name) {
                Some((first, first_location)) => {
                    if *first != scheme {
                        cx.warning(
                            Rule::SecuritySchemeConflict,
                            location,
                            format!(
                                "security scheme `{name}` differs from the one at {}, which is used",
                                cx.tree.placed(first_location)
                            ),
                        );
                    }
                }
                None => {
                    let Some(checked) =
                        typed::<openapiv3::SecurityScheme>(&mut cx, &scheme, &location, &Prov::default())
                    else {
                        continue;
                    };
                    scheme_sources.insert(name.clone(), (scheme, location));
                    security_schemes.insert(name, checked);
                }
            }
        }
        for mut unit in part.operations {
            operations += 1;
            rename_refs(&mut unit.value, &renames);
            place_operation(
                &mut cx,
                unit,
                &mut PlaceState {
                    paths: &mut paths,
                    routes: &mut routes,
                    operation_ids: &mut operation_ids,
                    placed: &mut placed,
                    route_ids: &mut route_ids,
                    used_tags: &mut used_tags,
                    provenance: &mut provenance,
                },
            );
        }
    }
    document.insert("paths".into(), Value::Object(paths));

    // components
    let mut schemas = Map::new();
    let mut entries = std::mem::take(&mut cx.registry.entries);
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in entries {
        let checked =
            typed::<openapiv3::ReferenceOr<openapiv3::Schema>>(&mut cx, &entry.value, &entry.source, &entry.prov)
                .unwrap_or_else(|| json!({}));
        entry.prov.place(&["components".into(), "schemas".into(), entry.name.clone()], &mut provenance);
        schemas.insert(entry.name, checked);
    }
    let mut components = Map::new();
    if !schemas.is_empty() {
        components.insert("schemas".into(), Value::Object(schemas));
    }
    if !security_schemes.is_empty() {
        components.insert("securitySchemes".into(), Value::Object(security_schemes));
    }
    if !components.is_empty() {
        document.insert("components".into(), Value::Object(components));
    }

    // tags: declared ones in order, then every used one, sorted
    for name in used_tags {
        if !declared_tags.iter().any(|t| t.get("name").and_then(Value::as_str) == Some(&name)) {
            declared_tags.push(json!({"name": name}));
        }
    }
    if !declared_tags.is_empty() {
        let location = index_location.clone().unwrap_or_else(|| Location::file("."));
        let tags = Value::Array(declared_tags);
        if let Some(checked) = typed::<Vec<openapiv3::Tag>>(&mut cx, &tags, &location, &Prov::default()) {
            document.insert("tags".into(), checked);
        }
    }

    let document = Value::Object(document);
    let document = match serde_path_to_error::deserialize::<_, openapiv3::OpenAPI>(&document) {
        Ok(document) => document,
        Err(err) => {
            let pointer = pointer_of(err.path());
            let location = provenance.locate(&pointer).unwrap_or_else(|| Location::file("."));
            cx.error(
                Rule::InvalidOpenapi,
                location,
                format!("the merged document is not valid OpenAPI 3.0 at `{pointer}`: {}", err.inner()),
            );
            fallback_document(&tree.root_name())
        }
    };

    Spec {
        root: tree.root.clone(),
        files: tree.files.len(),
        operations,
        examples: 0,
        document,
        routes,
        diagnostics: cx.diagnostics,
        provenance,
    }
}

/// What placing operations updates.
struct PlaceState<'s> {
    paths: &'s mut Map<String, Value>,
    routes: &'s mut Vec<Route>,
    operation_ids: &'s mut HashMap<String, Location>,
    placed: &'s mut HashMap<(String, String), Location>,
    route_ids: &'s mut BTreeSet<String>,
    used_tags: &'s mut BTreeSet<String>,
    provenance: &'s mut Provenance,
}

fn place_operation(cx: &mut Normalizer<'_>, unit: OperationUnit, state: &mut PlaceState<'_>) {
    let OperationUnit { method, path, prefixes, mut value, source, prov } = unit;
    let operation_id = match value.get("operationId").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => {
            // Derived ids are ours, so they are made unique rather than
            // reported as duplicates.
            let base = names::derived_operation_id(&method, &path);
            let derived = std::iter::once(base.clone())
                .chain((2..).map(|n| format!("{base}{n}")))
                .find(|id| !state.operation_ids.contains_key(id))
                .unwrap_or(base);
            // The id names the handler method and the client call: a
            // server must choose it, not get a method named after its path
            // (and a rustc error about trait methods when the path changes).
            let message = format!("operation has no `operationId`; `{derived}` is used meanwhile");
            let severity = if cx.options.strict { Severity::Error } else { Severity::Warning };
            cx.diagnostics.push(Diagnostic::new(severity, Rule::MissingOperationId, source.clone(), message));
            derived
        }
    };
    if path.trim() != path {
        cx.warning(
            Rule::InvalidOpenapi,
            source.clone(),
            format!("path `{path}` has surrounding whitespace; it is kept as written, as a route of its own"),
        );
    }
    match state.operation_ids.get(&operation_id) {
        Some(first) if *first != source => {
            cx.error(
                Rule::DuplicateOperationId,
                source.clone(),
                format!("operationId `{operation_id}` is already used at {}", cx.tree.placed(first)),
            );
        }
        Some(_) => {}
        None => {
            state.operation_ids.insert(operation_id.clone(), source.clone());
        }
    }
    for tag in value.get("tags").and_then(Value::as_array).into_iter().flatten() {
        if let Some(tag) = tag.as_str() {
            state.used_tags.insert(tag.to_owned());
        }
    }
    let prov = hoist_bodies(cx, &operation_id, &mut value, prov, &source);
    let Some(checked) = typed::<openapiv3::Operation>(cx, &value, &source, &prov) else {
        return;
    };
    value = checked;

    for (i, prefix) in prefixes.iter().enumerate() {
        let full_path = format!("{prefix}{path}");
        let key = (full_path.clone(), method.clone());
        if let Some(first) = state.placed.get(&key) {
            cx.error(
                Rule::DuplicateRoute,
                source.clone(),
                format!(
                    "`{} {full_path}` is already defined at {}",
                    method.to_ascii_uppercase(),
                    cx.tree.placed(first)
                ),
            );
            continue;
        }
        state.placed.insert(key, source.clone());
        let mut route_id = if i == 0 {
            operation_id.clone()
        } else {
            // The last segment names the prefix (`login_R0`) unless the
            // operationId already ends with it, as the seed's do
            // (`changePasswordV2Alpha` under `/_matrix/client/v2_alpha`):
            // then the whole prefix does.
            let suffix = names::prefix_suffix(prefix);
            if operation_id.ends_with(&suffix) {
                format!("{operation_id}_{}", names::upper_camel(prefix))
            } else {
                format!("{operation_id}_{suffix}")
            }
        };
        if state.route_ids.contains(&route_id) {
            let alternative = format!("{operation_id}_{}", names::upper_camel(prefix));
            if i > 0 && !state.route_ids.contains(&alternative) {
                route_id = alternative;
            } else {
                // Already reported as a duplicate operationId; keep the
                // document valid with a numbered id.
                route_id = (2..)
                    .map(|n| format!("{route_id}{n}"))
                    .find(|id| !state.route_ids.contains(id))
                    .unwrap_or_default();
            }
        }
        state.route_ids.insert(route_id.clone());
        let mut placed_value = value.clone();
        placed_value["operationId"] = json!(route_id);
        let item = state.paths.entry(full_path.clone()).or_insert_with(|| json!({}));
        item[method.as_str()] = placed_value;
        prov.place(&["paths".into(), full_path.clone(), method.clone()], state.provenance);
        state.routes.push(Route {
            operation_id: operation_id.clone(),
            route_id,
            method: method.to_ascii_uppercase(),
            path: full_path,
            prefix: prefix.clone(),
            source: source.clone(),
        });
    }
}

/// Moves the inline object schemas of an operation's request and response
/// bodies into `components.schemas`, named after the operation
/// (`LoginRequest`, `LoginResponse`, `ChangePasswordResponse401`,
/// `LoginError` for `default`), the names the Rust types already have, and
/// so do enum parameters (`RegisterKind`).
/// Generated clients then get one readable class per body, shared by every
/// prefix the operation is served under, instead of one per route and
/// status (`RegisterR0Response200`). Schemas that are already a `$ref`, or
/// not objects (an `anyOf` of refs), stay where they are.
fn hoist_bodies(cx: &mut Normalizer<'_>, operation_id: &str, value: &mut Value, prov: Prov, source: &Location) -> Prov {
    let prefix = crate::emit::names::type_prefix(operation_id);
    let mut places: Vec<(Vec<String>, String)> = Vec::new();
    if let Some(Value::Object(content)) = value.pointer("/requestBody/content") {
        for media in content.keys().filter(|media| is_json(media)) {
            places.push((
                vec!["requestBody".into(), "content".into(), media.clone(), "schema".into()],
                format!("{prefix}Request"),
            ));
        }
    }
    if let Some(Value::Object(responses)) = value.get("responses") {
        let successes = responses.keys().filter(|s| s.starts_with('2')).count();
        for (status, response) in responses {
            let name = match status.as_str() {
                "default" => format!("{prefix}Error"),
                s if s.starts_with('2') && successes == 1 => format!("{prefix}Response"),
                s => format!("{prefix}Response{s}"),
            };
            for media in response
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|c| c.keys())
                .filter(|m| is_json(m))
            {
                places.push((
                    vec!["responses".into(), status.clone(), "content".into(), media.clone(), "schema".into()],
                    name.clone(),
                ));
            }
        }
    }
    // An enum parameter is a type of its own too (`RegisterKind`), or every
    // route gets its copy (`RegisterKind`, `RegisterR0Kind`).
    if let Some(Value::Array(parameters)) = value.get("parameters") {
        for (i, parameter) in parameters.iter().enumerate() {
            let name = parameter.get("name").and_then(Value::as_str).unwrap_or_default();
            if parameter.pointer("/schema/enum").is_some() {
                places.push((
                    vec!["parameters".into(), i.to_string(), "schema".into()],
                    format!("{prefix}{}", names::upper_camel(name)),
                ));
            }
        }
    }
    let mut prov = prov;
    for (segments, name) in places {
        let Some(schema) = value.pointer_mut(&crate::refs::pointer(&segments)) else { continue };
        let named_type = schema.get("$ref").is_none()
            && (schema.get("type").and_then(Value::as_str) == Some("object")
                || schema.get("properties").is_some()
                || schema.get("enum").is_some());
        if !named_type {
            continue;
        }
        // A Swagger 2.0 body keeps its example in its schema; the media type
        // gets a copy, so that the example stays with the operation (where
        // documentation, generators and the contract tests look).
        let example = schema.get("example").cloned();
        let taken = schema.take();
        let mut moved = Prov::default();
        let mut kept = Prov::default();
        for (at, location) in prov.locations {
            match at.strip_prefix(segments.as_slice()) {
                Some(rest) => moved.locations.push((rest.to_vec(), location)),
                None => kept.locations.push((at, location)),
            }
        }
        for at in prov.incomplete {
            match at.strip_prefix(segments.as_slice()) {
                Some(rest) => moved.incomplete.push(rest.to_vec()),
                None => kept.incomplete.push(at),
            }
        }
        let schema_source = moved.locate(&[]).unwrap_or_else(|| source.clone());
        let media_at = &segments[..segments.len() - 1];
        let media = value.pointer_mut(&crate::refs::pointer(media_at)).and_then(Value::as_object_mut);
        if let (Some(example), Some(media)) = (example, media)
            && !media.contains_key("example")
            && !media.contains_key("examples")
        {
            media.insert("example".into(), example);
            let mut example_at = media_at.to_vec();
            example_at.push("example".into());
            if let Some(location) = moved.locate(&["example".to_owned()]) {
                kept.record(&example_at, location);
            }
            if moved.incomplete.iter().any(|at| at.as_slice() == ["example"]) {
                kept.incomplete.push(example_at);
            }
        }
        let name = cx.registry.add_converted(&name, taken, moved, schema_source.clone());
        if let Some(schema) = value.pointer_mut(&crate::refs::pointer(&segments)) {
            *schema = json!({"$ref": super::registry::schema_ref(&name)});
        }
        kept.record(&segments, schema_source);
        prov = kept;
    }
    prov
}

/// JSON media types (`application/json`, `application/problem+json`): a
/// form body's fields belong to its operation and stay inline.
fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or_default().trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// Deserializes a unit into its `openapiv3` type, reporting a mismatch as an
/// error at the failing node's source, and keys the type would drop as
/// warnings. Returns what `openapiv3` understood, as JSON.
fn typed<T: DeserializeOwned + Serialize>(
    cx: &mut Normalizer<'_>,
    value: &Value,
    source: &Location,
    prov: &Prov,
) -> Option<Value> {
    let parsed: T = match serde_path_to_error::deserialize(value) {
        Ok(parsed) => parsed,
        Err(err) => {
            let segments = segments_of(err.path());
            let location = prov.locate(&segments).unwrap_or_else(|| source.clone());
            cx.error(
                Rule::InvalidOpenapi,
                location,
                format!("not valid OpenAPI 3.0 after conversion: {}", err.inner()),
            );
            return None;
        }
    };
    let understood = match serde_json::to_value(&parsed) {
        Ok(understood) => understood,
        Err(err) => {
            cx.error(Rule::InvalidOpenapi, source.clone(), format!("cannot serialize the converted object: {err}"));
            return None;
        }
    };
    let mut lost = Vec::new();
    lost_keys(value, &understood, &mut Vec::new(), &mut lost);
    for (segments, key) in lost {
        let location = prov.locate(&segments).unwrap_or_else(|| source.clone());
        cx.warning(
            Rule::DroppedKey,
            location,
            format!("`{key}` has no meaning in OpenAPI 3.0 here; it is left out of the document"),
        );
    }
    Some(understood)
}

/// Keys present in `original` but gone after a round trip through the
/// `openapiv3` types (default values such as `false` are not reported).
fn lost_keys(original: &Value, understood: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match (original, understood) {
        (Value::Object(original), Value::Object(understood)) => {
            for (key, value) in original {
                match understood.get(key) {
                    Some(kept) => {
                        if !refs::holds_literal(at.last().map(String::as_str), key) {
                            at.push(key.clone());
                            lost_keys(value, kept, at, out);
                            at.pop();
                        }
                    }
                    None if is_default_like(value) => {}
                    None => {
                        let mut segments = at.clone();
                        segments.push(key.clone());
                        out.push((segments, key.clone()));
                    }
                }
            }
        }
        (Value::Array(original), Value::Array(understood)) => {
            for (i, (value, kept)) in original.iter().zip(understood).enumerate() {
                at.push(i.to_string());
                lost_keys(value, kept, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn is_default_like(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn segments_of(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    crate::refs::pointer(&segments_of(path))
}

fn fallback_document(title: &str) -> openapiv3::OpenAPI {
    openapiv3::OpenAPI {
        openapi: "3.0.3".into(),
        info: openapiv3::Info { title: title.to_owned(), version: "0.0.0".into(), ..Default::default() },
        ..Default::default()
    }
}

impl Prov {
    /// The source of the node at `segments` (relative to the unit): the
    /// nearest recorded ancestor, extended by the remaining segments.
    pub fn locate(&self, segments: &[String]) -> Option<Location> {
        for len in (0..=segments.len()).rev() {
            if let Some((_, location)) = self.locations.iter().find(|(at, _)| at.as_slice() == &segments[..len]) {
                let mut location = location.clone();
                for segment in &segments[len..] {
                    location = location.child(segment.clone());
                }
                return Some(location);
            }
        }
        None
    }
}
