//! The server side of the document: the traits hand-written code implements,
//! the router, and the dispatch between them.
//!
//! * One trait per operation group, named after the YAML file the group is
//!   written in (`login.yaml` → `Login`; the files of several spec eras with
//!   one name make one group). Each has one method per `operationId`, with a
//!   default body answering 404 `M_UNRECOGNIZED` (the spec's answer for an
//!   endpoint a server does not implement): the server keeps building when
//!   the spec grows, and a new operation is served as a stub until someone
//!   writes it, in the one file that implements its group.
//! * `Operations`, implemented for anything that implements every group.
//! * `route`: a path and method to an operation, as one `match` over the
//!   path's segments (literal segments win over variables). Every path the
//!   document describes is known here, so a path it does not describe and a
//!   method a path does not serve get Matrix answers, not a framework's.
//! * `dispatch`: reads what the operation's YAML asks for (the credential
//!   its `security` needs, path parameters, query, JSON body), calls the
//!   operation and renders the answer with the documented status.
//! * For an operation that documents several success statuses (Synapse's
//!   `PUT /_synapse/admin/v2/users/{user_id}`: 201 when it creates, 200
//!   when it modifies), an enum `{Op}Success` with one variant per status
//!   (`Ok`, `Created`, …, named after the status), carrying that status's
//!   body: the handler says which status it answers, and can only choose
//!   a documented one.
//!
//! What is not specific to one document (reading the body, CORS, error
//! bodies, connections) is the runtime's, hand-written beside the server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openapiv3::{OpenAPI, Operation, Parameter, ReferenceOr};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::handlers::Implemented;
use super::types::{OperationTypes, Success, find_operation};
use super::{EmitError, names};
use crate::Route;

/// The operation extension that makes a handler answer bytes rendered once
/// (`runtime::Prerendered`, with their media type) instead of a value to
/// serialize, for a large answer that never changes (the published
/// document, the reference page).
pub const PRERENDERED: &str = "x-prerendered";

/// Which credential an operation needs, from its `security` requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    None,
    /// Every requirement names a scheme: a token must be sent.
    Required,
    /// One requirement is empty (`{}`): a token may be sent.
    Optional,
}

/// The group (trait) an operation belongs to: its YAML file's stem.
pub fn group_name(route: &Route) -> String {
    let stem = Path::new(&route.source.file).file_stem().and_then(|s| s.to_str()).unwrap_or("operations");
    names::type_prefix(stem)
}

/// One operation, as the generated code needs it.
struct Op<'a> {
    route: &'a Route,
    operation: &'a Operation,
    signature: Signature,
}

pub fn generate(
    document: &OpenAPI,
    routes: &[Route],
    types: &BTreeMap<String, OperationTypes>,
    implemented: Option<&Implemented>,
) -> Result<TokenStream, EmitError> {
    // Operations in document order, each once (the first route names it).
    let mut operations: Vec<Op<'_>> = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for route in routes {
        if operations.iter().any(|op| op.route.operation_id == route.operation_id) {
            continue;
        }
        let operation = find_operation(document, route)?;
        let types = types
            .get(&route.operation_id)
            .ok_or_else(|| EmitError::new(format!("{}: no types were generated", route.operation_id)))?;
        let signature = Signature::new(document, route, operation, types)?;
        groups.entry(group_name(route)).or_default().push(operations.len());
        operations.push(Op { route, operation, signature });
    }

    let group_traits = groups.iter().map(|(group, members)| {
        let name = format_ident!("{group}");
        let files: BTreeSet<String> =
            members.iter().map(|&i| operations[i].route.source.file.display().to_string()).collect();
        let doc = format!(" The operations written in {}.", files.into_iter().collect::<Vec<_>>().join(", "));
        let methods = members.iter().map(|&i| trait_method(&operations[i]));
        // A group nothing implements yet (a new YAML file) is served as
        // stubs by every server, so that the YAML alone builds.
        let stubs = implemented.is_some_and(|implemented| !implemented.groups.contains(group)).then(|| {
            quote! {
                /// Nothing implements this group yet: every operation is a stub.
                impl<T: Send + Sync + 'static> #name for T {}
            }
        });
        quote! {
            #[doc = #doc]
            pub trait #name: Send + Sync + 'static {
                #(#methods)*
            }
            #stubs
        }
    });
    let group_idents: Vec<_> = groups.keys().map(|g| format_ident!("{g}")).collect();

    let success_enums = operations.iter().filter_map(success_enum);
    let variants: Vec<_> = operations.iter().map(|op| variant(&op.route.operation_id)).collect();
    let ids: Vec<&str> = operations.iter().map(|op| op.route.operation_id.as_str()).collect();
    let arms = operations.iter().map(dispatch_arm);
    let router = router(routes)?;
    let operations_trait = format_ident!("{}", super::OPERATIONS_TRAIT);

    Ok(quote! {
        #(#success_enums)*

        #(#group_traits)*

        /// Every operation group: what a server implements to serve the
        /// whole document.
        pub trait #operations_trait: #(#group_idents)+* {}

        impl<T: #(#group_idents)+*> #operations_trait for T {}

        /// The operations of the document, one per `operationId`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            #(#variants,)*
        }

        impl Operation {
            /// Every operation, in document order.
            pub const ALL: &[Operation] = &[#(Operation::#variants),*];

            /// The `operationId`.
            pub fn id(self) -> &'static str {
                match self {
                    #(Operation::#variants => #ids,)*
                }
            }
        }

        #router

        /// Calls `operation` on `server` with what `request` carries, and
        /// renders the outcome.
        pub async fn dispatch<C: #operations_trait>(
            server: &C,
            operation: Operation,
            request: &runtime::Request,
        ) -> runtime::Response {
            match operation {
                #(#arms)*
            }
        }
    })
}

fn variant(operation_id: &str) -> proc_macro2::Ident {
    format_ident!("{}", names::type_prefix(operation_id))
}

/// The parameters and result of an operation, as Rust types.
struct Signature {
    credential: Credential,
    /// Path parameter names, in path order.
    path: Vec<String>,
    query: Option<TokenStream>,
    body: Option<TokenStream>,
    body_required: bool,
    /// What the handler returns: the one success's body, or the operation's
    /// `{Op}Success` enum when it documents several.
    response: TokenStream,
    /// The documented successes, lowest status first.
    successes: Vec<Success>,
    /// Whether the handler chooses the status (`{Op}Success`); else it is
    /// the lowest documented one.
    chooses_status: bool,
}

impl Signature {
    fn new(
        document: &OpenAPI,
        route: &Route,
        operation: &Operation,
        types: &OperationTypes,
    ) -> Result<Self, EmitError> {
        let prerendered = operation.extensions.get(PRERENDERED).is_some_and(|v| v.as_bool() == Some(true));
        let response = match types.successes.as_slice() {
            _ if prerendered => quote!(runtime::Prerendered),
            [only] => only.ty.clone(),
            _ => {
                let name = success_enum_name(&route.operation_id);
                quote!(#name)
            }
        };
        Ok(Signature {
            credential: credential(document, operation),
            path: path_parameters(document, route, operation)?,
            query: types.query.clone(),
            body: types.body.as_ref().map(|b| b.ty.clone()),
            body_required: types.body.as_ref().is_some_and(|b| b.required),
            response,
            successes: types.successes.clone(),
            chooses_status: !prerendered && types.successes.len() > 1,
        })
    }

    /// The arguments after `&self, request` of the trait method.
    fn params(&self) -> Vec<TokenStream> {
        let mut params = Vec::new();
        match self.credential {
            Credential::None => {}
            Credential::Required => params.push(quote!(token: runtime::AccessToken)),
            Credential::Optional => params.push(quote!(token: Option<runtime::AccessToken>)),
        }
        for name in &self.path {
            let name = names::method(name);
            params.push(quote!(#name: String));
        }
        if let Some(query) = &self.query {
            params.push(quote!(query: #query));
        }
        if let Some(body) = &self.body {
            params.push(quote!(body: #body));
        }
        params
    }

    fn argument_names(&self) -> Vec<TokenStream> {
        let mut names = Vec::new();
        if self.credential != Credential::None {
            names.push(quote!(token));
        }
        names.extend(self.path.iter().map(|name| {
            let name = names::method(name);
            quote!(#name)
        }));
        if self.query.is_some() {
            names.push(quote!(query));
        }
        if self.body.is_some() {
            names.push(quote!(body));
        }
        names
    }
}

fn trait_method(op: &Op<'_>) -> TokenStream {
    let name = names::method(&op.route.operation_id);
    let params = op.signature.params();
    let names = op.signature.argument_names();
    let response = &op.signature.response;
    let operation_id = &op.route.operation_id;
    let docs = doc_lines(&[
        format!("`{} {}` (`{operation_id}`)", op.route.method, op.route.path),
        String::new(),
        op.operation.summary.clone().unwrap_or_default(),
    ]);
    quote! {
        #docs
        fn #name(
            &self,
            request: &runtime::Request,
            #(#params),*
        ) -> impl std::future::Future<Output = Result<#response, Error>> + Send {
            let _ = (request, #(#names),*);
            async { Err(runtime::not_implemented(#operation_id)) }
        }
    }
}

fn dispatch_arm(op: &Op<'_>) -> TokenStream {
    let variant = variant(&op.route.operation_id);
    let method = names::method(&op.route.operation_id);
    let group = format_ident!("{}", group_name(op.route));
    let signature = &op.signature;
    let mut prepare = Vec::new();
    // Credentials first: a request without a valid token learns nothing
    // about what else is wrong with it.
    match signature.credential {
        Credential::None => {}
        Credential::Required => prepare.push(quote!(let token = runtime::AccessToken::required(request)?;)),
        Credential::Optional => prepare.push(quote!(let token = runtime::AccessToken::optional(request);)),
    }
    for (index, name) in signature.path.iter().enumerate() {
        let ident = names::method(name);
        prepare.push(quote!(let #ident = request.path_parameter(#index, #name)?;));
    }
    if let Some(query) = &signature.query {
        prepare.push(quote!(let query = request.query::<#query>()?;));
    }
    if let Some(body) = &signature.body {
        let required = signature.body_required;
        prepare.push(quote!(let body = request.json_body::<#body>(#required)?;));
    }
    let arguments = signature.argument_names();
    let outcome = quote! {
        async {
            #(#prepare)*
            #group::#method(server, request, #(#arguments),*).await
        }
        .await
    };
    if signature.chooses_status {
        quote!(Operation::#variant => runtime::respond_with_status(#outcome),)
    } else {
        let status = signature.successes[0].status;
        quote!(Operation::#variant => runtime::respond::<_, #status>(#outcome),)
    }
}

fn success_enum_name(operation_id: &str) -> proc_macro2::Ident {
    format_ident!("{}Success", names::type_prefix(operation_id))
}

/// The `{Op}Success` enum of an operation with several success statuses
/// (see the module documentation), and how it is answered.
fn success_enum(op: &Op<'_>) -> Option<TokenStream> {
    if !op.signature.chooses_status {
        return None;
    }
    let successes = &op.signature.successes;
    let name = success_enum_name(&op.route.operation_id);
    let doc = format!(" The success statuses `{}` documents: the handler answers one of them.", op.route.operation_id);
    let variants: Vec<_> = successes.iter().map(|s| format_ident!("{}", names::status_variant(s.status))).collect();
    let docs: Vec<String> = successes
        .iter()
        .map(|s| {
            let description = op
                .operation
                .responses
                .responses
                .get(&openapiv3::StatusCode::Code(s.status))
                .and_then(|r| r.as_item())
                .map(|r| r.description.trim().to_owned())
                .unwrap_or_default();
            format!(" {}: {description}", s.status)
        })
        .collect();
    let types = successes.iter().map(|s| &s.ty);
    let statuses = successes.iter().map(|s| s.status);
    Some(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        pub enum #name {
            #(#[doc = #docs] #variants(#types),)*
        }

        impl runtime::WithStatus for #name {
            fn into_answer(self) -> runtime::Answer {
                match self {
                    #(#name::#variants(body) => runtime::Answer::new(#statuses, body),)*
                }
            }
        }
    })
}

/// The `route` function: one `match` arm per described path.
fn router(routes: &[Route]) -> Result<TokenStream, EmitError> {
    let mut by_path: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for route in routes {
        let methods = by_path.entry(route.path.as_str()).or_default();
        if let Some(other) = methods.insert(route.method.as_str(), route.operation_id.as_str()) {
            return Err(EmitError::new(format!(
                "{} {} is served by both {other} and {}",
                route.method, route.path, route.operation_id
            )));
        }
    }
    // Literal segments before variables at the first place two paths of the
    // same length differ: `/devices/all` must not be taken for
    // `/devices/{deviceId}`.
    let mut paths: Vec<(Vec<Segment<'_>>, &BTreeMap<&str, &str>)> =
        by_path.iter().map(|(path, methods)| (segments(path), methods)).collect();
    paths.sort_by(|(a, _), (b, _)| {
        let key = |s: &[Segment<'_>]| s.iter().map(|s| matches!(s, Segment::Variable(_))).collect::<Vec<_>>();
        key(a).cmp(&key(b))
    });
    let depth = paths.iter().map(|(s, _)| s.len()).max().unwrap_or(0) + 1;

    let arms = paths.iter().map(|(segments, methods)| {
        let mut variables = Vec::new();
        let pattern = segments.iter().map(|segment| match segment {
            Segment::Literal(text) => quote!(#text),
            Segment::Variable(_) => {
                let ident = format_ident!("p{}", variables.len());
                variables.push(ident.clone());
                quote!(#ident)
            }
        });
        let pattern: Vec<_> = pattern.collect();
        let served = methods.iter().map(|(method, operation_id)| {
            let method = format_ident!("{method}");
            let variant = variant(operation_id);
            quote!(http::Method::#method => runtime::Routed::Operation(Operation::#variant, vec![#((*#variables).to_owned()),*]))
        });
        let allow: BTreeSet<&str> = methods.keys().copied().chain(["OPTIONS"]).collect();
        let allow = allow.into_iter().collect::<Vec<_>>().join(", ");
        quote! {
            [#(#pattern),*] => match *method {
                #(#served,)*
                _ => runtime::Routed::MethodNotAllowed(#allow),
            },
        }
    });

    Ok(quote! {
        /// Where a request goes: its path split at `/` and matched against
        /// every path of the document. Path parameters are returned as they
        /// were sent (still percent-encoded).
        pub fn route(method: &http::Method, path: &str) -> runtime::Routed<Operation> {
            let mut segments = [""; #depth];
            let Some(count) = runtime::split_path(path, &mut segments) else {
                return runtime::Routed::NotFound;
            };
            match &segments[..count] {
                #(#arms)*
                _ => runtime::Routed::NotFound,
            }
        }
    })
}

enum Segment<'a> {
    Literal(&'a str),
    Variable(&'a str),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    path.trim_start_matches('/')
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => Segment::Variable(name),
            None => Segment::Literal(segment),
        })
        .collect()
}

/// The names of an operation's path parameters, in the order the path has
/// them; every one must be declared (on the operation or its path item).
fn path_parameters(document: &OpenAPI, route: &Route, operation: &Operation) -> Result<Vec<String>, EmitError> {
    let item_parameters = match document.paths.paths.get(&route.path) {
        Some(ReferenceOr::Item(item)) => item.parameters.as_slice(),
        _ => &[],
    };
    let declared: BTreeSet<&str> = operation
        .parameters
        .iter()
        .chain(item_parameters)
        .filter_map(|parameter| match parameter {
            ReferenceOr::Item(Parameter::Path { parameter_data, .. }) => Some(parameter_data.name.as_str()),
            _ => None,
        })
        .collect();
    let mut names = Vec::new();
    for segment in segments(&route.path) {
        if let Segment::Variable(name) = segment {
            if !declared.contains(name) {
                return Err(EmitError::new(format!(
                    "{} {} ({}): path parameter {{{name}}} is not declared in `parameters`",
                    route.method, route.path, route.operation_id
                )));
            }
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// An operation's own `security`, else the document's.
fn credential(document: &OpenAPI, operation: &Operation) -> Credential {
    let requirements = operation.security.as_ref().or(document.security.as_ref());
    match requirements {
        None => Credential::None,
        Some(requirements) if requirements.is_empty() => Credential::None,
        Some(requirements) if requirements.iter().any(|r| r.is_empty()) => Credential::Optional,
        Some(_) => Credential::Required,
    }
}

fn doc_lines(paragraphs: &[String]) -> TokenStream {
    let text = paragraphs.join("\n");
    let text = text.trim();
    let lines = text.lines().map(|line| format!(" {line}"));
    quote!(#(#[doc = #lines])*)
}
