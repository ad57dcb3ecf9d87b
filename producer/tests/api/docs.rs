//! The generated documents: the OpenAPI document and `/docs` are served, and
//! `docs/job.schema.json` is exactly what the Rust types generate (regenerate it with
//! `producer schema job > docs/job.schema.json`).

use crate::server::{Server, env};
use crate::support::{Harness, fixed_latency};

#[test]
fn the_checked_in_job_schema_matches_the_types() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_producer"))
        .args(["schema", "job"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/job.schema.json");
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        generated, checked_in,
        "docs/job.schema.json is stale: run `producer schema job > docs/job.schema.json`"
    );
    let props = generated["properties"].as_object().unwrap();
    for field in [
        "id",
        "model",
        "prompt",
        "batch",
        "width",
        "metadata",
        "number_results",
    ] {
        assert!(props.contains_key(field), "{field} is in the schema");
    }
    assert_eq!(
        generated["additionalProperties"], false,
        "unknown fields are refused"
    );
    assert_eq!(
        generated["required"],
        serde_json::json!(["id", "model", "prompt"])
    );
}

#[tokio::test]
async fn the_openapi_document_and_the_reference_page_are_served() {
    let h = Harness::new(fixed_latency(50)).await;
    let s = Server::start(&env(&h), &[]).await;
    let (code, doc) = s.get("/openapi.json", None).await;
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/image",
        "/v1/batches/{batch}",
        "/v1/batches/{batch}/events",
        "/v1/dead",
        "/v1/dead/replay",
        "/v1/accounts",
        "/v1/lanes",
        "/v1/lanes/{lane}/pause",
        "/v1/lanes/{lane}/resume",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(
        doc.pointer("/components/schemas/JobSubmission/oneOf")
            .is_some()
    );
    assert!(doc.pointer("/components/securitySchemes/bearer").is_some());
    let page = s.client.get(s.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<code>/v1/batches/{batch}/events</code>"),
        "every operation is on the page"
    );
    assert!(
        !html.contains("<script src"),
        "nothing is fetched from elsewhere"
    );
    h.cleanup().await;
}
