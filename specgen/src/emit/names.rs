//! Rust names for things the YAML names.
//!
//! Chosen deliberately rather than left to a generic case converter, which
//! turns the spec's `getAccount3PIDs` into `get_account3_pi_ds`. Here an
//! `operationId` splits into words the way a reader splits it: a digit run
//! starts a word and keeps the acronym after it (`3PIDs`), a capital
//! followed by digits is one word (`V2`, `R0`), and a plural `s` stays with
//! its acronym.

use proc_macro2::{Ident, Span};

/// A method name for an operation or route id:
/// `getAccount3PIDs` → `get_account_3pids`, `registerV2Alpha` → `register_v2_alpha`.
pub fn method(id: &str) -> Ident {
    ident(&words(id).join("_"))
}

/// A type name prefix for an operation id:
/// `getAccount3PIDs` → `GetAccount3pids`, `registerV2Alpha` → `RegisterV2Alpha`.
pub fn type_prefix(id: &str) -> String {
    words(id)
        .iter()
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The variant name of a success status in an operation's `{Op}Success`
/// enum: its reason phrase (`201` → `Created`), else `Status{code}`.
pub fn status_variant(status: u16) -> String {
    match status {
        200 => "Ok".into(),
        201 => "Created".into(),
        202 => "Accepted".into(),
        203 => "NonAuthoritativeInformation".into(),
        204 => "NoContent".into(),
        205 => "ResetContent".into(),
        206 => "PartialContent".into(),
        other => format!("Status{other}"),
    }
}

/// The lower-case words of an identifier (see the module documentation).
fn words(id: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in id.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (previous, current) = (chars[i - 1], chars[i]);
            let next = chars.get(i + 1).copied();
            let boundary = if previous.is_ascii_lowercase() {
                current.is_ascii_uppercase() || current.is_ascii_digit()
            } else {
                // A capital that starts a capitalized word: `V2|Alpha`,
                // `HTTP|Server`, but not the `D` of `PIDs`.
                (previous.is_ascii_uppercase() || previous.is_ascii_digit())
                    && current.is_ascii_uppercase()
                    && next.is_some_and(|n| n.is_ascii_lowercase())
                    && !is_plural_s(&chars, i + 1)
            };
            if boundary {
                words.push(chars[start..i].iter().collect::<String>().to_ascii_lowercase());
                start = i;
            }
        }
        words.push(chars[start..].iter().collect::<String>().to_ascii_lowercase());
    }
    words
}

/// Whether the lower-case run at `at` is a lone `s` closing an acronym
/// (`PIDs` followed by the end, a capital or a digit).
fn is_plural_s(chars: &[char], at: usize) -> bool {
    chars.get(at) == Some(&'s') && chars.get(at + 1).is_none_or(|c| !c.is_ascii_lowercase())
}

fn ident(name: &str) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else {
        Ident::new_raw(name, Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_become_snake_case_methods() {
        let cases = [
            ("registerV2Alpha", "register_v2_alpha"),
            ("getThreePidsV2Alpha", "get_three_pids_v2_alpha"),
            ("loginR0", "login_r0"),
            ("getAccount3PIDs", "get_account_3pids"),
            ("getAccount3PIDsR0", "get_account_3pids_r0"),
            ("post3PIDs", "post_3pids"),
            ("add3PID", "add_3pid"),
            ("delete3pidFromAccount", "delete_3pid_from_account"),
            ("logout_all", "logout_all"),
            ("getOpenApiDocument", "get_open_api_document"),
            ("HTTPServerName", "http_server_name"),
            ("type", "r#type"),
        ];
        for (id, expected) in cases {
            assert_eq!(method(id).to_string(), expected, "{id}");
        }
    }

    #[test]
    fn operation_ids_become_type_prefixes() {
        assert_eq!(type_prefix("getAccount3PIDs"), "GetAccount3pids");
        assert_eq!(type_prefix("registerV2Alpha"), "RegisterV2Alpha");
        assert_eq!(type_prefix("logout_all"), "LogoutAll");
    }
}
