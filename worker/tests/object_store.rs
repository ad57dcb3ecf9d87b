//! `FLUXQ_OUTPUT_URL=s3://bucket/prefix` against a real S3-compatible server: moto's
//! server from PyPI (`scripts/ensure-moto` installs it into a cached venv the first
//! time), on a free port of 127.0.0.1. Jobs run through RabbitMQ, Redis and the mock
//! provider; their images are read back from the bucket and decoded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of the tests

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;
use fluxq_testkit::moto::Moto;
use fluxq_testkit::{Harness, id_of, job};
use fluxq_worker::output::{OutputTarget, S3Settings};
use fluxq_worker::secret::ApiKey;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;

const BUCKET: &str = "fluxq-images";
const SECRET: &str = "fluxq-test-s3-secret-9d1e";

fn s3_settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(endpoint.parse().unwrap()),
        region: Some("eu-west-1".into()),
        access_key_id: Some(ApiKey::new("AKIDFLUXQTEST")),
        secret_access_key: Some(ApiKey::new(SECRET)),
        session_token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_go_to_the_bucket_and_records_say_where() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;

    let h = Harness::new(MockConfig::default()).await;
    let mut config = h.worker_config();
    config.output_url = Some(
        format!("s3://{BUCKET}/renders/prod/")
            .parse::<OutputTarget>()
            .unwrap(),
    );
    config.s3 = s3_settings(&moto.endpoint);
    let worker = h.spawn_worker(config);
    let mut jobs: Vec<_> = (0..3)
        .map(|i| job(&format!("bucketed chair {i}"), i))
        .collect();
    jobs[2]["output_format"] = "png".into();
    h.submit(&jobs, "s3-batch", Lane::Bulk).await;
    let batch = h.wait_batch("s3-batch", 3, Duration::from_secs(30)).await;
    assert_eq!(batch.succeeded, 3, "{batch:?}");

    let bucket = AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(&moto.endpoint)
        .with_allow_http(true)
        .with_region("eu-west-1")
        .with_access_key_id("AKIDFLUXQTEST")
        .with_secret_access_key(SECRET)
        .build()
        .unwrap();
    for (j, ext) in jobs.iter().zip(["jpg", "jpg", "png"]) {
        let id = id_of(j);
        let rec = h.job(&id).await;
        let key = format!("renders/prod/s3-batch/{id}.{ext}");
        assert_eq!(rec["image_path"], format!("s3://{BUCKET}/{key}"));
        let bytes = bucket
            .get(&Key::from(key.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let img = image::load_from_memory(&bytes).expect("the stored object decodes as an image");
        assert!(img.width() > 0 && img.height() > 0);
        let format = image::guess_format(&bytes).unwrap();
        assert_eq!(
            format.extensions_str()[0],
            ext,
            "stored in the format asked for"
        );
        assert!(
            rec.values().all(|v| !v.contains(SECRET)),
            "the S3 secret reached Redis"
        );
    }
    let local = std::fs::read_dir(h.output_path()).unwrap().count();
    assert_eq!(local, 0, "nothing was written to FLUXQ_OUTPUT_DIR");
    worker.stop().await;
    h.cleanup().await;
}
