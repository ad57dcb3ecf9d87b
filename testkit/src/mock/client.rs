//! The mock provider driven over HTTP, as its own tests do: start a mock, submit,
//! poll, download.

use std::time::Duration;

use fluxq_mock_provider::{MockConfig, MockProvider};
use serde_json::{Value, json};

/// A running mock and a client for it.
pub struct Harness {
    pub mock: MockProvider,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("mock", &self.mock.base_url())
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Starts a mock on a free port of 127.0.0.1 with `config`.
    pub async fn start(config: MockConfig) -> Self {
        let mock = MockProvider::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self { mock, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.mock.base_url())
    }

    /// POSTs `body` to `/v1/{model}` with the right key; returns status and JSON body.
    pub async fn submit(&self, model: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(&format!("/v1/{model}")))
            .header("x-key", self.mock.api_key())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a Runware task array to `/v1` with `Authorization: Bearer`; returns
    /// status and JSON body.
    pub async fn runware(&self, tasks: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/v1"))
            .bearer_auth(self.mock.api_key())
            .json(&tasks)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls a Runware task with `getResponse` every 20 ms until no item is
    /// `processing` (at most 5 s); returns the last answer.
    pub async fn runware_until_final(&self, uuid: &str) -> (u16, Value) {
        for _ in 0..250 {
            let (status, body) = self
                .runware(json!([{ "taskType": "getResponse", "taskUUID": uuid }]))
                .await;
            let processing = body["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|i| i["status"] == "processing"));
            if !processing {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Runware task {uuid} still processing after 5 s");
    }

    /// Submits a pro task for `prompt` with `seed` and expects 200; returns the id.
    pub async fn submit_ok(&self, prompt: &str, seed: i64) -> String {
        let (status, body) = self
            .submit("flux-2-pro", json!({ "prompt": prompt, "seed": seed }))
            .await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// GETs a URL; returns status and JSON body.
    pub async fn get_json(&self, url: &str) -> (u16, Value) {
        let response = self.http.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs a path with the right key; returns status and JSON body.
    pub async fn get_json_with_key(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .header("x-key", self.mock.api_key())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// One poll of `/v1/get_result`.
    pub async fn poll(&self, id: &str) -> Value {
        let (status, body) = self
            .get_json(&self.url(&format!("/v1/get_result?id={id}")))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls every 20 ms until the status is not `Pending` (at most 5 s).
    pub async fn poll_until_final(&self, id: &str) -> Value {
        for _ in 0..250 {
            let body = self.poll(id).await;
            if body["status"] != "Pending" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {id} still pending after 5 s");
    }

    /// POSTs a run creation to `/v1/models/{model}/runs` with `Authorization: Bearer`
    /// and, when given, an `Idempotency-Key`; returns status, JSON body and headers.
    pub async fn runflow_create(
        &self,
        model: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .post(self.url(&format!("/v1/models/{model}/runs")))
            .bearer_auth(self.mock.api_key())
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    /// Creates a run and expects 201; returns the run object.
    pub async fn runflow_ok(&self, model: &str, body: &Value) -> Value {
        let (status, run, _) = self.runflow_create(model, body, None).await;
        assert_eq!(status, 201, "{run}");
        run
    }

    /// GETs a Runflow path with `Authorization: Bearer`; returns status and JSON body.
    pub async fn runflow_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(self.mock.api_key())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls `GET /v1/runs/{id}` every 20 ms until `status_code` is final (at most 5 s).
    pub async fn runflow_until_final(&self, id: &str) -> Value {
        for _ in 0..250 {
            let (status, run) = self.runflow_get(&format!("/v1/runs/{id}")).await;
            assert_eq!(status, 200, "{run}");
            if !["queued", "dispatching", "running"].contains(&run["status_code"].as_str().unwrap())
            {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {id} not final after 5 s");
    }
}
