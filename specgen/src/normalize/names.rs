//! Readable names: schema names from file stems, route-id suffixes from
//! prefixes, operation ids derived from method and path.

/// `rate_limited` → `RateLimited`, `m.room.message$m.text` →
/// `MRoomMessageMText`, `v2_alpha` → `V2Alpha`, `3pid` → `3pid`.
pub(crate) fn upper_camel(text: &str) -> String {
    let mut out = String::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// A component name as OpenAPI allows it (`^[a-zA-Z0-9._-]+$`): other
/// characters become `_`.
pub(crate) fn component_name(text: &str) -> String {
    let name: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if name.is_empty() { "Schema".to_owned() } else { name }
}

/// The schema name a file stem gives: `definitions/errors/error.yaml` →
/// `Error`; an extensionless `m.room.member` → `MRoomMember`.
pub(crate) fn from_file_stem(file_name: &str) -> String {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, "yaml" | "yml" | "json")) => stem,
        _ => file_name,
    };
    let name = upper_camel(stem);
    if name.is_empty() { "Schema".to_owned() } else { name }
}

/// The suffix that tells apart the routes of one operation under several
/// prefixes: the prefix's last segment, `/_matrix/client/r0` → `R0`.
pub(crate) fn prefix_suffix(prefix: &str) -> String {
    let last = prefix.rsplit('/').find(|s| !s.is_empty()).unwrap_or("root");
    let name = upper_camel(last);
    if name.is_empty() { "Root".to_owned() } else { name }
}

/// An operation id for an operation the YAML gives none: `post` +
/// `/account/3pid` → `postAccount3pid`, `{roomId}` → `RoomId`.
pub(crate) fn derived_operation_id(method: &str, path: &str) -> String {
    format!("{}{}", method.to_ascii_lowercase(), upper_camel(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_well() {
        assert_eq!(from_file_stem("rate_limited.yaml"), "RateLimited");
        assert_eq!(from_file_stem("m.room.message$m.text.yaml"), "MRoomMessageMText");
        assert_eq!(from_file_stem("m.room.member"), "MRoomMember");
        assert_eq!(prefix_suffix("/_matrix/client/r0"), "R0");
        assert_eq!(prefix_suffix(""), "Root");
        assert_eq!(derived_operation_id("POST", "/rooms/{roomId}/invite"), "postRoomsRoomIdInvite");
        assert_eq!(component_name("a b"), "a_b");
    }
}
