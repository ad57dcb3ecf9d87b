//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations
//! (`utoipa`), served at `/openapi.json`, and `/docs`, a reference page rendered from it
//! on the server (no script, nothing fetched from elsewhere).

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use fluxq_common::JobMessage;
use serde_json::{Value, json};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ErrorBody;
use super::server::Docs;

/// The body of `POST /v1/jobs`: one job, or `{"jobs": [...]}` with 1 to 1,000 (the
/// schema is derived from [`JobMessage`]'s when the document is built).
#[derive(Debug, ToSchema)]
pub struct JobSubmission;

/// The document's fixed parts; the paths come from the router.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "fluxq HTTP API",
        description = "Enqueue FLUX.2 image jobs, look them up, follow batches, replay dead letters. \
            Authenticate with `Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    components(schemas(JobMessage, ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Enqueueing and looking up jobs"),
        (name = "batches", description = "Batches: counts, cost, events"),
        (name = "dead letters", description = "Messages that can never succeed"),
        (name = "accounts", description = "Provider accounts"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The finished document as JSON: the generated one with `JobRequest` (a job whose
/// `id` may be left out) and `JobSubmission` derived from `JobMessage`.
pub fn finish(doc: &Document) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    if let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        if let Some(mut request) = schemas.get("JobMessage").cloned() {
            if let Some(req) = request.get_mut("required").and_then(Value::as_array_mut) {
                req.retain(|f| f != "id");
            }
            request["description"] =
                json!("A job as the contract defines it; `id` is generated when left out.");
            schemas.insert("JobRequest".into(), request);
        }
        let one = json!({"$ref": "#/components/schemas/JobRequest"});
        schemas.insert(
            "JobSubmission".into(),
            json!({
                "description": "One job, or {\"jobs\": [...]} with 1 to 1000 jobs.",
                "oneOf": [
                    one,
                    {
                        "type": "object",
                        "required": ["jobs"],
                        "additionalProperties": false,
                        "properties": {"jobs": {
                            "type": "array", "minItems": 1, "maxItems": 1000, "items": one
                        }}
                    }
                ]
            }),
        );
    }
    v
}

/// The OpenAPI document.
pub async fn document(State(docs): State<Docs>) -> Json<Value> {
    Json(docs.json.as_ref().clone())
}

/// The reference page.
pub async fn page(State(docs): State<Docs>) -> Html<String> {
    Html(docs.html.as_ref().clone())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the document as one HTML page: every operation with its parameters and
/// responses, then the schemas, then the document itself.
pub fn render(doc: &Value) -> String {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let mut h = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>fluxq HTTP API</title><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
         .op{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}\
         .m{font:bold 13px monospace;padding:2px 6px;border-radius:4px;color:#fff;background:#357}\
         .m.post{background:#373} code,pre{background:#f5f5f5;border-radius:4px}\
         pre{padding:.6rem;overflow:auto;font-size:13px} td{padding:2px 8px;vertical-align:top}\
         </style></head><body>",
    );
    h.push_str(&format!(
        "<h1>{}</h1><p>version {}</p><p>{}</p><p><a href=\"/openapi.json\">/openapi.json</a></p>",
        esc(&s(doc, "/info/title")),
        esc(&s(doc, "/info/version")),
        esc(&s(doc, "/info/description"))
    ));
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                h.push_str(&format!(
                    "<div class=\"op\"><p><span class=\"m {method}\">{}</span> <code>{}</code> {}</p><p>{}</p>",
                    method.to_uppercase(),
                    esc(path),
                    esc(&s(op, "/summary")),
                    esc(&s(op, "/description")).replace("\n\n", "</p><p>")
                ));
                if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                    h.push_str("<table><tr><th>parameter</th><th>in</th><th></th></tr>");
                    for p in params {
                        h.push_str(&format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                            esc(&s(p, "/name")),
                            esc(&s(p, "/in")),
                            esc(&s(p, "/description"))
                        ));
                    }
                    h.push_str("</table>");
                }
                if let Some(rs) = op.get("responses").and_then(Value::as_object) {
                    h.push_str("<table><tr><th>status</th><th>meaning</th></tr>");
                    for (code, r) in rs {
                        h.push_str(&format!(
                            "<tr><td>{}</td><td>{}</td></tr>",
                            esc(code),
                            esc(&s(r, "/description"))
                        ));
                    }
                    h.push_str("</table>");
                }
                h.push_str("</div>");
            }
        }
    }
    let pretty = serde_json::to_string_pretty(doc).unwrap_or_default();
    h.push_str(&format!(
        "<h2>The document</h2><details><summary>schemas and everything else</summary><pre>{}</pre></details></body></html>",
        esc(&pretty)
    ));
    h
}
