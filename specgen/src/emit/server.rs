//! The server side of the document: two traits and the glue between them.
//!
//! * `Operations` has one method per operation (per `operationId`, shared by
//!   every prefix the operation is served under). Hand-written code
//!   implements it on the server's context type. Every method has a default
//!   body answering 404 `M_UNRECOGNIZED` (the spec's answer for an endpoint a
//!   server does not implement), so the server keeps building when the spec
//!   grows: a new operation is served as a stub until someone writes it.
//! * `Api` is a dropshot API trait with one method per route (operation ×
//!   prefix), plus, for every served path, unpublished handlers that answer
//!   CORS preflights (`OPTIONS`) and a Matrix-shaped 405 for the methods the
//!   path does not serve. dropshot does neither by itself.
//! * `Served<C>` implements `Api` for any `C: Operations`: it reads the
//!   credentials the operation's `security` asks for, unwraps the extractors
//!   and calls the operation.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{OpenAPI, Operation, Parameter, ReferenceOr};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::types::{OperationTypes, find_operation};
use super::{EmitError, names};
use crate::Route;

/// Methods a path may be asked for; each one a path does not serve gets a 405.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

/// Which credential an operation needs, from its `security` requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    None,
    /// Every requirement names a scheme: a token must be sent.
    Required,
    /// One requirement is empty (`{}`): a token may be sent.
    Optional,
}

pub fn generate(
    document: &OpenAPI,
    routes: &[Route],
    types: &BTreeMap<String, OperationTypes>,
) -> Result<TokenStream, EmitError> {
    let mut operations = Vec::new(); // Operations trait methods, one per operationId
    let mut endpoints = Vec::new(); // Api trait methods
    let mut glue = Vec::new(); // impl Api for Served<C>
    let mut seen_operations = BTreeSet::new();
    let mut methods_by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();

    for route in routes {
        let operation = find_operation(document, route)?;
        let types = types
            .get(&route.operation_id)
            .ok_or_else(|| EmitError::new(format!("{}: no types were generated", route.operation_id)))?;
        if operation.parameters.iter().any(|p| matches!(p, ReferenceOr::Item(Parameter::Path { .. }))) {
            return Err(EmitError::new(format!(
                "{} {}: path parameters are not supported yet",
                route.method, route.path
            )));
        }
        methods_by_path.entry(&route.path).or_default().insert(&route.method);
        let credential = credential(document, operation);
        let signature = Signature::new(types, credential);

        if seen_operations.insert(route.operation_id.clone()) {
            operations.push(operation_method(route, operation, &signature));
        }
        endpoints.push(endpoint(route, operation, &signature));
        glue.push(glue_method(route, &signature));
    }

    for (path, served) in &methods_by_path {
        if !served.contains("OPTIONS") {
            let name = names::path_method("OPTIONS", path);
            endpoints.push(quote! {
                #[endpoint { method = OPTIONS, path = #path, unpublished = true }]
                async fn #name(rqctx: RequestContext<Self::Context>) -> Result<runtime::Reply<(), 204>, Error>;
            });
            glue.push(quote! {
                async fn #name(_rqctx: RequestContext<C>) -> Result<runtime::Reply<(), 204>, Error> {
                    Ok(runtime::Reply(Ok(())))
                }
            });
        }
        let allow = served.iter().copied().chain(["OPTIONS"]).collect::<BTreeSet<_>>();
        let allow = allow.into_iter().collect::<Vec<_>>().join(", ");
        for method in METHODS.iter().filter(|m| !served.contains(*m)) {
            let name = names::path_method(method, path);
            let method = format_ident!("{method}");
            endpoints.push(quote! {
                #[endpoint { method = #method, path = #path, unpublished = true }]
                async fn #name(rqctx: RequestContext<Self::Context>) -> Result<runtime::Reply<(), 204>, Error>;
            });
            glue.push(quote! {
                async fn #name(_rqctx: RequestContext<C>) -> Result<runtime::Reply<(), 204>, Error> {
                    Ok(runtime::Reply(Err(runtime::method_not_allowed(#allow))))
                }
            });
        }
    }

    let operations_trait = format_ident!("{}", super::OPERATIONS_TRAIT);
    Ok(quote! {
        /// The operations described in `api/`, one method per `operationId`.
        ///
        /// Implement the ones this server serves; the others answer
        /// 404 `M_UNRECOGNIZED` until they are written.
        pub trait #operations_trait: dropshot::ServerContext {
            #(#operations)*
        }

        /// Every route of the document, for dropshot: one method per
        /// operation and prefix, plus preflight and wrong-method handlers.
        #[dropshot::api_description]
        pub trait Api {
            type Context;
            #(#endpoints)*
        }

        /// Serves [`Api`] with any implementation of [`Operations`].
        pub struct Served<C>(std::marker::PhantomData<fn() -> C>);

        impl<C: #operations_trait> Api for Served<C> {
            type Context = C;
            #(#glue)*
        }

        /// The dropshot description of every route, served by `C`.
        pub fn api_description<C: #operations_trait>()
        -> Result<dropshot::ApiDescription<C>, dropshot::ApiDescriptionBuildErrors> {
            api_mod::api_description::<Served<C>>()
        }
    })
}

/// The parameters and result of an operation, as Rust types.
struct Signature {
    credential: Credential,
    query: Option<TokenStream>,
    body: Option<TokenStream>,
    body_required: bool,
    response: TokenStream,
    status: u16,
}

impl Signature {
    fn new(types: &OperationTypes, credential: Credential) -> Self {
        Signature {
            credential,
            query: types.query.clone(),
            body: types.body.as_ref().map(|b| b.ty.clone()),
            body_required: types.body.as_ref().is_some_and(|b| b.required),
            response: types.response.clone(),
            status: types.status,
        }
    }

    /// The arguments after `&self, request` in `Operations`.
    fn operation_params(&self) -> Vec<TokenStream> {
        let mut params = Vec::new();
        match self.credential {
            Credential::None => {}
            Credential::Required => params.push(quote!(token: runtime::AccessToken)),
            Credential::Optional => params.push(quote!(token: Option<runtime::AccessToken>)),
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
        if self.query.is_some() {
            names.push(quote!(query));
        }
        if self.body.is_some() {
            names.push(quote!(body));
        }
        names
    }

    /// The extractor arguments of the dropshot endpoint.
    fn extractors(&self) -> Vec<TokenStream> {
        let mut params = Vec::new();
        if let Some(query) = &self.query {
            params.push(quote!(query: runtime::QueryParams<#query>));
        }
        if let Some(body) = &self.body {
            params.push(if self.body_required {
                quote!(body: runtime::JsonBody<#body>)
            } else {
                quote!(body: runtime::OptionalJsonBody<#body>)
            });
        }
        params
    }

    fn output(&self) -> TokenStream {
        let response = &self.response;
        let status = self.status;
        quote!(Result<runtime::Reply<#response, #status>, Error>)
    }
}

fn operation_method(route: &Route, operation: &Operation, signature: &Signature) -> TokenStream {
    let name = names::method(&route.operation_id);
    let params = signature.operation_params();
    let names = signature.argument_names();
    let response = &signature.response;
    let operation_id = &route.operation_id;
    let docs = doc_lines(&[
        format!("`{} {}` (`{operation_id}`)", route.method, route.path),
        String::new(),
        operation.summary.clone().unwrap_or_default(),
    ]);
    quote! {
        #docs
        fn #name(
            &self,
            request: &dropshot::RequestInfo,
            #(#params),*
        ) -> impl std::future::Future<Output = Result<#response, Error>> + Send {
            let _ = (request, #(#names),*);
            async { Err(runtime::not_implemented(#operation_id)) }
        }
    }
}

fn endpoint(route: &Route, operation: &Operation, signature: &Signature) -> TokenStream {
    let name = names::method(&route.route_id);
    let method = format_ident!("{}", route.method);
    let path = &route.path;
    let route_id = &route.route_id;
    let tags = &operation.tags;
    let deprecated = operation.deprecated.then(|| quote!(deprecated = true,));
    let extractors = signature.extractors();
    let output = signature.output();
    let docs = doc_lines(&[
        operation.summary.clone().unwrap_or_default(),
        String::new(),
        operation.description.clone().unwrap_or_default(),
    ]);
    quote! {
        #docs
        #[endpoint {
            method = #method,
            path = #path,
            operation_id = #route_id,
            tags = [#(#tags),*],
            #deprecated
        }]
        async fn #name(rqctx: RequestContext<Self::Context>, #(#extractors),*) -> #output;
    }
}

fn glue_method(route: &Route, signature: &Signature) -> TokenStream {
    let name = names::method(&route.route_id);
    let operation = names::method(&route.operation_id);
    let extractors = signature.extractors();
    let output = signature.output();
    let mut prepare = Vec::new();
    // Credentials first: a request without a valid token learns nothing
    // about what else is wrong with it.
    match signature.credential {
        Credential::None => {}
        Credential::Required => prepare.push(quote!(let token = runtime::AccessToken::required(&rqctx.request)?;)),
        Credential::Optional => prepare.push(quote!(let token = runtime::AccessToken::optional(&rqctx.request);)),
    }
    if signature.query.is_some() {
        prepare.push(quote!(let query = query.into_inner()?;));
    }
    if signature.body.is_some() {
        prepare.push(quote!(let body = body.into_inner()?;));
    }
    let arguments = signature.argument_names();
    quote! {
        async fn #name(rqctx: RequestContext<C>, #(#extractors),*) -> #output {
            runtime::reply(async {
                #(#prepare)*
                rqctx.context().#operation(&rqctx.request, #(#arguments),*).await
            })
            .await
        }
    }
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
