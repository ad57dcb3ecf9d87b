//! The dashboard's pages on a real batch (worker + mock provider, real RabbitMQ and
//! Redis): what they show equals what Redis holds, thumbnails decode as small JPEGs,
//! the gallery pages and filters, errors are grouped by message.

use std::time::Duration;

use fluxq_common::Lane;
use fluxq_mock_provider::MockConfig;

use crate::browser::{Browser, attrs, csrf, strip, text_of};
use crate::server::{Server, WRITE, env};
use crate::support::{Harness, fixed_latency, id_of, job};

/// A mock that refuses prompts with "forbidden" (422: failed) and moderates "nsfw".
fn mock() -> MockConfig {
    MockConfig {
        reject_word: Some("forbidden".into()),
        moderation_word: Some("nsfw".into()),
        ..fixed_latency(30)
    }
}

#[tokio::test]
async fn the_pages_show_a_finished_batch_as_redis_holds_it() {
    let h = Harness::new(mock()).await;
    let worker = h.spawn_worker(h.worker_config());
    let batch = "dash-mixed";
    let mut jobs: Vec<_> = (0..4).map(|i| job("a lighthouse at dusk", i)).collect();
    jobs.push(job("something forbidden", 10));
    jobs.push(job("another forbidden thing", 11));
    jobs.push(job("nsfw picture", 12));
    h.submit(&jobs, batch, Lane::Bulk).await;
    let status = h.wait_batch(batch, 7, Duration::from_secs(60)).await;
    worker.stop().await;
    assert_eq!(
        (status.succeeded, status.failed, status.moderated),
        (4, 2, 1)
    );

    let s = Server::start(&env(&h), &[]).await;
    let b = Browser::logged_in(&s, WRITE).await;

    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let text = strip(&home.html);
    assert!(text.contains(batch), "{text}");
    assert!(text.contains("7 of 7 done (100 %)"), "{text}");
    assert!(text.contains(&format!("${}", status.cost)), "{text}");

    let page = b.page(&format!("/batches/{batch}")).await;
    for (id, n) in [
        ("total", status.total),
        ("succeeded", status.succeeded),
        ("failed", status.failed),
        ("moderated", status.moderated),
        ("cancelled", 0),
        ("pending", 0),
    ] {
        assert_eq!(text_of(&page, id), n.to_string(), "#{id}");
    }
    assert_eq!(text_of(&page, "cost"), format!("${}", status.cost));
    assert!(
        !page.contains("data-refresh"),
        "a finished batch is not refreshed"
    );
    // The two refusals share one message; the moderation has its own.
    let errors = strip(&page[page.find("id=\"errors\"").unwrap()..]);
    assert!(errors.contains("failed 2"), "{errors}");
    assert!(errors.contains("moderated 1"), "{errors}");

    let thumbs = attrs(&page, "img", "src");
    assert_eq!(thumbs.len(), 4, "one thumbnail per image: {thumbs:?}");
    for t in &thumbs {
        let (code, ct, bytes) = b.bytes(t).await;
        assert_eq!((code, ct.as_str()), (200, "image/jpeg"), "{t}");
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert!(img.width() <= 256 && img.height() <= 256 && img.width() > 0);
    }
    let failed = b.page(&format!("/batches/{batch}?status=failed")).await;
    assert_eq!(failed.matches("<figure>").count(), 2);
    assert_eq!(
        attrs(&failed, "img", "src").len(),
        0,
        "failed jobs have no image"
    );

    let first = id_of(&jobs[0]);
    let record = h.job(&first).await;
    let jp = b.page(&format!("/jobs/{first}")).await;
    assert!(strip(&jp).contains("succeeded"));
    assert_eq!(text_of(&jp, "job-cost"), format!("${}", record["cost_usd"]));
    assert!(
        jp.contains(&record["provider_task_id"]),
        "the provider task id"
    );
    assert!(
        jp.contains(r#"id="prompt">a lighthouse at dusk</blockquote>"#),
        "the prompt: {jp}"
    );
    let jp_text = strip(&jp);
    assert!(
        jp_text.contains("seed") && jp_text.contains("output_format"),
        "the parameters: {jp_text}"
    );
    let full = attrs(&jp, "img", "src");
    let (code, ct, _) = b.bytes(&full[0]).await;
    assert_eq!((code, ct.starts_with("image/")), (200, true), "{full:?}");

    let accounts = strip(&b.page("/accounts").await);
    assert!(accounts.contains("bfl:"), "{accounts}");
    let lanes = strip(&b.page("/lanes").await);
    assert!(
        lanes.contains("bulk") && lanes.contains("interactive"),
        "{lanes}"
    );
    let dead_page = b.page("/dead").await;
    let dead = strip(&dead_page);
    assert!(dead.contains("2 matching of 2"), "the two refusals: {dead}");
    // Replay one of them, chosen by its checkbox.
    let chosen = id_of(&jobs[5]).to_string();
    assert!(
        dead_page.contains(&format!("value=\"{chosen}\"")),
        "a checkbox per letter"
    );
    let p = b
        .post(
            "/dead/replay",
            &[("csrf", &csrf(&dead_page)), ("ids", &chosen)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.html);
    let after = strip(&b.page(&p.location.unwrap()).await);
    assert!(
        after.contains("Replayed 1 dead letter(s)") && after.contains("1 kept"),
        "{after}"
    );
    assert!(after.contains("1 matching of 1"), "{after}");
    assert_eq!(
        h.job(&id_of(&jobs[5])).await["status"],
        "queued",
        "reopened"
    );
    assert_eq!(
        b.get("/batches/no-such-batch").await.status,
        404,
        "an unknown batch"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn the_gallery_pages_and_the_batches_list_newest_first() {
    let h = Harness::new(fixed_latency(30)).await;
    let jobs: Vec<_> = (0..130).map(|i| job("a field of tulips", i)).collect();
    h.submit(&jobs[..1], "dash-older", Lane::Bulk).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    h.submit(&jobs[1..], "dash-paged", Lane::Bulk).await;
    let s = Server::start(&env(&h), &[]).await;
    let b = Browser::logged_in(&s, WRITE).await;

    let home = b.page("/").await;
    let newer = home.find("dash-paged").unwrap();
    assert!(newer < home.find("dash-older").unwrap(), "newest first");

    let first = b.page("/batches/dash-paged").await;
    assert_eq!(first.matches("<figure>").count(), 60);
    assert!(strip(&first).contains("1–60 of 129"), "{}", strip(&first));
    assert!(first.contains("data-refresh"), "a running batch refreshes");
    let last = b.page("/batches/dash-paged?offset=120").await;
    assert_eq!(last.matches("<figure>").count(), 9);
    assert!(
        strip(&last).contains("#129"),
        "places run on from the first page"
    );
    let queued = b.page("/batches/dash-paged?status=queued&offset=60").await;
    assert_eq!(queued.matches("<figure>").count(), 60);
    h.cleanup().await;
}
