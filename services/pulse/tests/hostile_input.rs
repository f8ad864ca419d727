//! Hostile input through the real pipeline (issue 19 item 6): a corpus of more than 200
//! hostile messages (`pulse_e2e::hostile`: out-of-range dates and numbers, 2 MiB lines,
//! control characters, invalid UTF-8, deep nesting, `1e400`, negative seats,
//! 10,000-character ids, duplicate keys, a BOM, empty messages, Segment calls with wrong
//! types...) mixed into the valid traffic of 50 accounts (plus a few boundary-valid lines),
//! produced to the input topics while `pulse ingest` and `pulse scorer` run as real
//! processes; ingest is SIGKILLed and restarted after half the messages, the scorer later.
//!
//! At the end:
//! - every hostile message is dead-lettered (at least once: a kill re-delivers what was not
//!   committed) with a reason, the expected one where its category fixes it, its length and
//!   a prefix of its bytes, and every dead letter belongs to a hostile message;
//! - every valid line is stored: `usage_events FINAL` / `crm_events FINAL` hold exactly
//!   the distinct valid events, none of the hostile ones;
//! - the stored results of the day equal `pulse replay` of the valid lines;
//! - both services answer `/readyz` 200 with their `paused` gauge at 0, and were never
//!   seen not ready for long while they ran (a message that cannot be written used to stop
//!   a service forever: retried with its partitions paused).
//!
//! Broker limits: tansu (0.6) sets no maximum frame or message size of its own (probed
//! with 1, 2 and 5 MB messages, produced and fetched back with the default consumer
//! settings), so the 2 MiB lines go through; the test's producer raises its own
//! `message.max.bytes` to send them. The spawned ingest keeps librdkafka's default
//! `message.max.bytes` and its default `ingest.max_message_bytes`.
//!
//! A second test sends repeats whose copies differ within one millisecond (valid, but
//! adversarial): the raw tables must keep the copy that was scored (SPEC §1).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::join_all;
use pulse_e2e::{
    assert_same_results,
    hostile::{self, Expect, Hostile, Topic},
    replay_expected, scenario, scrape, wait_for_results, ServiceProcess, TestEnv,
};
use pulse_runtime::dlq::DeadLetter;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
    Message,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pulse"))
}

/// One message to produce: a valid line or a hostile message (its index in the corpus).
struct Outgoing {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    hostile: Option<usize>,
}

/// Where the broker put a message: (topic, partition, offset).
type Place = (String, i32, i64);

/// Produces `msgs`, re-sending what was not acknowledged (bounded), and returns where each
/// landed, plus how many sends were repeated (a repeat may have landed twice).
async fn send_all(producer: &FutureProducer, msgs: &[Outgoing]) -> (Vec<Place>, usize) {
    let mut placed: Vec<Option<Place>> = vec![None; msgs.len()];
    let mut repeats = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending: Vec<usize> = (0..msgs.len()).filter(|i| placed[*i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let sends = pending.iter().map(|i| {
            let m = &msgs[*i];
            let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&m.topic);
            if let Some(k) = &m.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(p) = &m.payload {
                rec = rec.payload(p.as_slice());
            }
            producer.send(rec, Duration::from_secs(60))
        });
        let mut failed = Vec::new();
        for (i, r) in pending.iter().zip(join_all(sends).await) {
            match r {
                Ok(d) => placed[*i] = Some((msgs[*i].topic.clone(), d.partition, d.offset)),
                Err((e, _)) => {
                    failed.push(format!("message {i} ({} bytes): {e}", msgs[*i].payload.as_ref().map_or(0, Vec::len)))
                }
            }
        }
        if !failed.is_empty() {
            repeats += failed.len();
            assert!(Instant::now() < deadline, "not acknowledged within 120 s: {failed:?}");
            eprintln!("re-sending {} message(s): {:?}", failed.len(), &failed[..failed.len().min(3)]);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    (placed.into_iter().flatten().collect(), repeats)
}

/// Every message of the DLQ topic read so far: (partition, offset, payload).
type Letters = Arc<Mutex<Vec<(i32, i64, Vec<u8>)>>>;

/// Reads the DLQ topic from the beginning, in the background, for as long as the test runs.
fn read_dlq(env: &TestEnv) -> (Letters, tokio::task::JoinHandle<()>) {
    let mut c = env.kafka.client_config();
    c.set("group.id", format!("test-dlq-reader-{}", env.tag))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = c.create().expect("DLQ consumer");
    consumer.subscribe(&[env.topics.dlq.as_str()]).expect("subscribe to the DLQ");
    let letters: Letters = Arc::default();
    let out = letters.clone();
    let task = tokio::spawn(async move {
        loop {
            match consumer.recv().await {
                Ok(m) => out.lock().expect("letters lock").push((
                    m.partition(),
                    m.offset(),
                    m.payload().unwrap_or(&[]).to_vec(),
                )),
                Err(e) => {
                    eprintln!("DLQ read error (retried): {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    (letters, task)
}

/// A readiness sample of one service: not ready or paused while it answered.
#[derive(Default)]
struct Health {
    /// Where each service (0 ingest, 1 scorer) answers now; `None` while it is replaced.
    addr: [Option<SocketAddr>; 2],
    /// Samples that answered; samples not ready or paused; the longest such stretch.
    answered: [u32; 2],
    unwell: [u32; 2],
    streak: [Duration; 2],
    longest: [Duration; 2],
}

const SERVICES: [(&str, &str); 2] = [("ingest", "pulse_ingest_paused"), ("scorer", "pulse_scorer_paused")];

/// Polls `/readyz` and the `paused` gauge of both services every 500 ms.
fn watch_health(health: Arc<Mutex<Health>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_millis(500);
        loop {
            for (i, (_, paused)) in SERVICES.iter().enumerate() {
                let Some(at) = health.lock().expect("health lock").addr[i] else { continue };
                let ready = pulse_e2e::http_get(at, "/readyz").await.map(|(status, _)| status == 200);
                let paused = scrape(at, paused, &[]).await;
                let mut h = health.lock().expect("health lock");
                if h.addr[i] != Some(at) {
                    continue; // replaced meanwhile
                }
                // Not answering (starting): not a readiness sample.
                if let (Ok(ready), Ok(paused)) = (ready, paused) {
                    h.answered[i] += 1;
                    if !ready || paused > 0.0 {
                        h.unwell[i] += 1;
                        h.streak[i] += period;
                        h.longest[i] = h.longest[i].max(h.streak[i]);
                    } else {
                        h.streak[i] = Duration::ZERO;
                    }
                }
            }
            tokio::time::sleep(period).await;
        }
    })
}

/// A spawned service, SIGKILLed if the test ends without stopping it (e.g. a failed
/// assertion), so no process outlives the test.
struct Running(Option<ServiceProcess>);

impl Running {
    fn spawn(env: &TestEnv, service: &str, group: &str, health: &Mutex<Health>) -> Self {
        let p = ServiceProcess::spawn(bin(), env, service, group);
        let i = usize::from(service == "scorer");
        let mut h = health.lock().expect("health lock");
        h.addr[i] = Some(p.http);
        h.streak[i] = Duration::ZERO;
        Self(Some(p))
    }

    fn process(&self) -> &ServiceProcess {
        self.0.as_ref().expect("running")
    }

    fn kill9(mut self, service: &str, health: &Mutex<Health>) {
        health.lock().expect("health lock").addr[usize::from(service == "scorer")] = None;
        if let Some(p) = self.0.take() {
            p.kill9();
        }
    }

    fn terminate(mut self) {
        if let Some(p) = self.0.take() {
            p.terminate();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.kill9();
        }
    }
}

/// The newest snapshot offsets of the scorer, summed over partitions (grows with progress).
const COVERED: &str =
    "SELECT toUInt64(sum(m)) FROM (SELECT max(next_offset) AS m FROM scorer_snapshots GROUP BY `partition`)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_dead_lettered_once_each_while_services_stay_ready_and_results_equal_replay() {
    let started = Instant::now();
    let env = TestEnv::new(3).await;
    let logs = std::env::temp_dir().join(format!("pulse-test-{}-{{ingest,scorer}}.log", env.tag));
    eprintln!("service logs: {}", logs.display());

    // Valid traffic: 50 accounts, 35 days ending yesterday, and the boundary-valid lines.
    let (mut ndjson, _, day) = scenario(50, 19);
    let accounts: Vec<String> = ndjson
        .split(|b| *b == b'\n')
        .filter_map(|l| pulse_core::parse_event(l).ok())
        .map(|ev| ev.account_id().to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(accounts.len(), 50, "the scenario's accounts");
    for line in hostile::boundary_valid(&accounts, day, chrono::Utc::now()) {
        if let Err(e) = pulse_core::parse_event(line.as_bytes()) {
            panic!("boundary line is invalid ({e}): {:.300}", line);
        }
        ndjson.extend_from_slice(line.as_bytes());
        ndjson.push(b'\n');
    }
    let valid: Vec<&[u8]> = ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut usage_ids = BTreeSet::new();
    let mut crm_ids = BTreeSet::new();
    let mut valid_msgs = Vec::new();
    let mut all_accounts = BTreeSet::new();
    for line in &valid {
        let ev = pulse_core::parse_event(line).expect("every scenario line is valid");
        all_accounts.insert(ev.account_id().to_owned());
        let id = (ev.account_id().to_owned(), ev.event_id().to_owned());
        let topic = if ev.is_usage() {
            usage_ids.insert(id);
            env.topics.usage.clone()
        } else {
            crm_ids.insert(id);
            env.topics.crm.clone()
        };
        let key = Some(ev.account_id().as_bytes().to_vec());
        valid_msgs.push(Outgoing { topic, key, payload: Some(line.to_vec()), hostile: None });
    }
    let expected = replay_expected(&ndjson, day);
    // Every account but the one whose only event is after `day`.
    assert_eq!(expected.len(), 2 * (all_accounts.len() - 1), "replay gives health and readiness for every account");

    // The hostile corpus, each expectation confirmed with the parser first.
    let now = chrono::Utc::now();
    let max_message_bytes = pulse_ingest::IngestConfig::default().max_message_bytes;
    let corpus: Vec<Hostile> = hostile::corpus(&accounts, day, now, max_message_bytes);
    assert!(corpus.len() >= 200, "{} hostile messages", corpus.len());
    let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, h) in corpus.iter().enumerate() {
        if let Err(e) = h.check(now, max_message_bytes) {
            panic!("hostile message {i} ({}: {}) is not what it claims: {e}", h.category, h.what);
        }
        *categories.entry(h.category).or_default() += 1;
    }
    eprintln!(
        "{} valid lines ({} distinct usage, {} distinct CRM events), {} hostile messages: {categories:?}",
        valid.len(),
        usage_ids.len(),
        crm_ids.len(),
        corpus.len()
    );

    // Interleave the hostile messages evenly into the valid traffic.
    let step = valid_msgs.len() / (corpus.len() + 1);
    let mut msgs = Vec::with_capacity(valid_msgs.len() + corpus.len());
    let mut next_hostile = 0;
    for (i, m) in valid_msgs.into_iter().enumerate() {
        msgs.push(m);
        if (i + 1) % step.max(1) == 0 && next_hostile < corpus.len() {
            let h = &corpus[next_hostile];
            let topic = match h.topic {
                Topic::Usage => env.topics.usage.clone(),
                Topic::Crm => env.topics.crm.clone(),
            };
            msgs.push(Outgoing { topic, key: h.key.clone(), payload: h.payload.clone(), hostile: Some(next_hostile) });
            next_hostile += 1;
        }
    }
    for (j, h) in corpus.iter().enumerate().skip(next_hostile) {
        let topic = match h.topic {
            Topic::Usage => env.topics.usage.clone(),
            Topic::Crm => env.topics.crm.clone(),
        };
        msgs.push(Outgoing { topic, key: h.key.clone(), payload: h.payload.clone(), hostile: Some(j) });
    }

    // The test's producer sends the 2 MiB lines: its own limit raised (the broker's allows it).
    let mut kafka = env.kafka.clone();
    kafka.properties.insert("message.max.bytes".into(), "8000000".into());
    let producer = kafka.producer().expect("producer");
    let (letters, dlq_reader) = read_dlq(&env);
    let health = Arc::new(Mutex::new(Health::default()));
    let watcher = watch_health(health.clone());

    let ingest_group = format!("hostile-ingest-{}", env.tag);
    let scorer_group = format!("hostile-scorer-{}", env.tag);
    let mut ingest = Running::spawn(&env, "ingest", &ingest_group, &health);
    let mut scorer = Running::spawn(&env, "scorer", &scorer_group, &health);

    let chunks: Vec<&[Outgoing]> = msgs.chunks(msgs.len().div_ceil(24)).collect();
    let mut placed: Vec<Place> = Vec::with_capacity(msgs.len());
    let mut repeats = 0;
    let feed = |range: std::ops::Range<usize>| {
        let chunks = &chunks[range];
        let producer = &producer;
        async move {
            let mut out = Vec::new();
            let mut repeated = 0;
            for chunk in chunks {
                let (p, r) = send_all(producer, chunk).await;
                out.extend(p);
                repeated += r;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            (out, repeated)
        }
    };

    // First half, then SIGKILL ingest once it has stored something (it is still working
    // through the backlog) and start a new one in its group.
    let (p, r) = feed(0..12).await;
    placed.extend(p);
    repeats += r;
    let progressed =
        env.wait_scalar("SELECT toUInt64(count() > 0) FROM usage_events", 1, Duration::from_secs(120)).await;
    assert_eq!(progressed, 1, "ingest stored something before its kill");
    let stored_at_kill = env.scalar("SELECT count() FROM usage_events").await;
    ingest.kill9("ingest", &health);
    eprintln!("[{:?}] ingest SIGKILLed with {stored_at_kill} usage rows stored", started.elapsed());
    ingest = Running::spawn(&env, "ingest", &ingest_group, &health);

    // Second half; once the new ingest forwards it (the development broker may take its
    // rejoin watchdog to hand the partitions over) and the scorer has snapshotted progress
    // beyond that point, SIGKILL the scorer and start a new one in its group.
    let (p, r) = feed(12..18).await;
    placed.extend(p);
    repeats += r;
    ingest
        .process()
        .wait_until("the new ingest forwards events", Duration::from_secs(120), |at| async move {
            Ok(scrape(at, "pulse_ingest_forwarded_events_total", &[]).await? > 0.0)
        })
        .await;
    let covered_before = env.scalar(COVERED).await;
    let progressed = env
        .wait_scalar(
            &format!("SELECT toUInt64(ifNull(({COVERED}) > {covered_before}, 0))"),
            1,
            Duration::from_secs(150),
        )
        .await;
    assert_eq!(progressed, 1, "the scorer made progress before its kill");
    scorer.kill9("scorer", &health);
    eprintln!("[{:?}] scorer SIGKILLed", started.elapsed());
    scorer = Running::spawn(&env, "scorer", &scorer_group, &health);
    let (p, r) = feed(18..chunks.len()).await;
    placed.extend(p);
    repeats += r;
    assert_eq!(placed.len(), msgs.len(), "every message acknowledged");
    eprintln!("[{:?}] all {} messages produced ({repeats} re-sent)", started.elapsed(), msgs.len());

    // Where each message landed -> which message it is.
    let by_place: HashMap<Place, usize> = placed.iter().cloned().zip(0..).collect();
    let hostile_places: Vec<(usize, Place)> =
        placed.iter().enumerate().filter_map(|(i, p)| msgs[i].hostile.map(|h| (h, p.clone()))).collect();

    // Wait for the end state: every hostile message dead-lettered, every valid event stored,
    // the results of the day equal to replay's.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let covered: BTreeSet<Place> = letters
            .lock()
            .expect("letters lock")
            .iter()
            .filter_map(|(_, _, payload)| serde_json::from_slice::<DeadLetter>(payload).ok())
            .map(|d| (d.source_topic, d.source_partition, d.source_offset))
            .collect();
        let missing = hostile_places.iter().filter(|(_, p)| !covered.contains(p)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} hostile message(s) not dead-lettered within the deadline, e.g. {:?}",
            hostile_places
                .iter()
                .filter(|(_, p)| !covered.contains(p))
                .take(5)
                .map(|(h, p)| format!("{} / {} at {p:?}", corpus[*h].category, corpus[*h].what))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("[{:?}] every hostile message dead-lettered", started.elapsed());
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(30));
    let usage_stored = env.wait_scalar("SELECT count() FROM usage_events FINAL", usage_ids.len() as u64, left).await;
    let crm_stored = env.wait_scalar("SELECT count() FROM crm_events FINAL", crm_ids.len() as u64, left).await;
    assert_eq!(usage_stored, usage_ids.len() as u64, "usage_events FINAL holds every distinct valid usage event");
    assert_eq!(crm_stored, crm_ids.len() as u64, "crm_events FINAL holds every distinct valid CRM event");
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(30));
    let stored = wait_for_results(&env, day, &expected, left).await;
    assert_same_results(&stored, &expected);
    eprintln!("[{:?}] stored rows and results complete", started.elapsed());

    // Both services ready, not paused, and never seen unwell for long while they ran.
    for (i, (service, paused)) in SERVICES.iter().enumerate() {
        let p = if i == 0 { ingest.process() } else { scorer.process() };
        p.wait_until(&format!("{service} is ready and not paused"), Duration::from_secs(60), |at| async move {
            let (status, _) = pulse_e2e::http_get(at, "/readyz").await?;
            Ok(status == 200 && scrape(at, paused, &[]).await? == 0.0)
        })
        .await;
    }
    watcher.abort();
    {
        let h = health.lock().expect("health lock");
        for (i, (service, _)) in SERVICES.iter().enumerate() {
            eprintln!(
                "{service}: {} readiness samples, {} not ready or paused, longest such stretch {:?}",
                h.answered[i], h.unwell[i], h.longest[i]
            );
            assert!(h.answered[i] > 0, "{service} answered /readyz while it ran");
            assert!(
                h.longest[i] <= Duration::from_secs(15),
                "{service} was not ready or paused for {:?} at a stretch (logs: {})",
                h.longest[i],
                logs.display()
            );
        }
    }

    // The dead letters: each is a hostile message's, with the expected reason, its length
    // and a prefix of its bytes; valid against the schema.
    dlq_reader.abort();
    let schema = pulse_e2e::dead_letter_schema::validator();
    let letters = std::mem::take(&mut *letters.lock().expect("letters lock"));
    let mut per_hostile: BTreeMap<usize, Vec<DeadLetter>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (partition, offset, payload) in &letters {
        pulse_e2e::dead_letter_schema::assert_valid(&schema, payload);
        let d: DeadLetter = serde_json::from_slice(payload).expect("a dead letter parses as the envelope type");
        let place = (d.source_topic.clone(), d.source_partition, d.source_offset);
        match by_place.get(&place).map(|i| (i, msgs[*i].hostile)) {
            Some((_, Some(h))) => per_hostile.entry(h).or_default().push(d),
            Some((i, None)) => problems.push(format!(
                "valid line dead-lettered ({}: {}) at {place:?}: {:.200}",
                d.reason,
                d.detail,
                String::from_utf8_lossy(msgs[*i].payload.as_deref().unwrap_or(&[]))
            )),
            // A send repeated after a failed delivery report may have landed twice: its
            // first copy's place is unknown, its content is the hostile message's.
            None if repeats > 0
                && corpus.iter().any(|h| {
                    h.bytes().len() as u64 == d.original_length
                        && h.bytes().starts_with(&d.original_bytes().unwrap_or_default())
                }) =>
            {
                eprintln!("dead letter of an unacknowledged copy of a hostile message at {place:?}");
            }
            None => problems.push(format!(
                "dead letter {partition}/{offset} names no produced message: {} {} at {place:?}",
                d.reason, d.detail
            )),
        }
    }
    let mut duplicated = 0;
    for (h, copies) in &per_hostile {
        let msg = &corpus[*h];
        let bytes = msg.bytes();
        duplicated += copies.len() - 1;
        for d in copies {
            *reasons.entry(d.reason.as_str().to_owned()).or_default() += 1;
            let name = format!("{} / {}", msg.category, msg.what);
            if let Some(want) = msg.expect.reason() {
                if d.reason.as_str() != want {
                    problems.push(format!("{name}: reason {} ({}), expected {want}", d.reason, d.detail));
                }
            }
            if msg.expect == Expect::ParserInvalid {
                let parser = pulse_core::parse_event(bytes).map(|_| ()).map_err(|e| e.reason.as_str().to_owned());
                if parser.as_ref().map_err(String::as_str) != Err(d.reason.as_str()) {
                    problems.push(format!("{name}: reason {}, the parser says {parser:?}", d.reason));
                }
            }
            if d.detail.is_empty() {
                problems.push(format!("{name}: no detail"));
            }
            if d.original_length != bytes.len() as u64 {
                problems.push(format!("{name}: original_length {} of {} bytes", d.original_length, bytes.len()));
            }
            let kept = d.original_bytes().unwrap_or_default();
            if !bytes.starts_with(&kept) || (kept.len() < bytes.len()) != d.original_truncated {
                problems.push(format!(
                    "{name}: keeps {} bytes (truncated: {}) that are not a prefix of its {} bytes",
                    kept.len(),
                    d.original_truncated,
                    bytes.len()
                ));
            }
            if d.original_sha256.len() != 64 || !d.original_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("{name}: original_sha256 {:?} is not a hex SHA-256", d.original_sha256));
            }
            let key_kept = msg.key.as_deref().filter(|k| k.len() <= 1024).and_then(|k| std::str::from_utf8(k).ok());
            if d.source_key.as_deref() != key_kept {
                problems.push(format!("{name}: source_key {:?}, sent {key_kept:?}", d.source_key));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s) with the dead letters:\n{}", problems.len(), problems.join("\n"));
    let hostile_sent = hostile_places.len();
    assert_eq!(per_hostile.len(), corpus.len(), "every hostile message dead-lettered");
    eprintln!(
        "{} dead letters for {hostile_sent} hostile messages ({duplicated} repeated after the kills): {reasons:?}",
        letters.len()
    );

    // Nothing hostile stored: the raw rows name only valid messages.
    for table in ["usage_events", "crm_events"] {
        let rows: Vec<(String, i32, i64)> = env
            .ch()
            .query(&format!("SELECT source_topic, source_partition, source_offset FROM {table}"))
            .fetch_all()
            .await
            .unwrap_or_else(|e| panic!("reading {table}: {e}"));
        let hostile_rows: Vec<&(String, i32, i64)> =
            rows.iter().filter(|p| by_place.get(*p).map_or(repeats == 0, |i| msgs[*i].hostile.is_some())).collect();
        assert!(
            hostile_rows.is_empty(),
            "{table} holds rows of no valid message: {:?}",
            &hostile_rows[..hostile_rows.len().min(5)]
        );
    }

    // produced = stored valid (distinct, plus the scenario's own repeats) + dead-lettered.
    let produced = placed.len();
    let valid_sent = produced - hostile_sent;
    let repeats_in_scenario = valid_sent - usage_ids.len() - crm_ids.len();
    assert_eq!(
        produced,
        (usage_stored + crm_stored) as usize + repeats_in_scenario + per_hostile.len(),
        "produced = stored + repeated event ids + dead-lettered"
    );
    eprintln!(
        "produced {produced} = stored {usage_stored} usage + {crm_stored} CRM + {repeats_in_scenario} repeated event ids \
         + {} dead-lettered; {:?} in all",
        per_hostile.len(),
        started.elapsed()
    );

    ingest.terminate();
    scorer.terminate();
    env.drop_database().await;
}

/// SPEC §1: of the copies of a repeated event id the earliest `timestamp`, to the
/// microsecond, wins (ties: the user key; for CRM copies the canonical JSON), and "the raw
/// tables keep the copy that was scored, so SQL over `usage_events FINAL` counts exactly
/// what the scores count". Hostile repeats differ within one millisecond, the copy SPEC §1
/// picks being the longer one; the stored copy must still be the scored one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_differing_within_a_millisecond_are_stored_as_they_are_scored() {
    let env = TestEnv::new(1).await;
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let (lines, probes) = hostile::differing_repeats(day);
    let ndjson = lines.join("\n").into_bytes();
    let expected = replay_expected(&ndjson, day);
    let ingest = env.spawn_ingest(env.ingest_config());
    env.produce_routed(&ndjson).await;
    let mut distinct = [BTreeSet::new(), BTreeSet::new()];
    for line in &lines {
        let ev = pulse_core::parse_event(line.as_bytes()).expect("probe lines are valid");
        distinct[usize::from(!ev.is_usage())].insert((ev.account_id().to_owned(), ev.event_id().to_owned()));
    }
    for (table, ids) in ["usage_events", "crm_events"].into_iter().zip(&distinct) {
        let n = ids.len() as u64;
        let sql = format!("SELECT count() FROM {table} FINAL");
        assert_eq!(env.wait_scalar(&sql, n, Duration::from_secs(60)).await, n, "{table}: every distinct event stored");
    }
    ingest.stop().await;
    let mut problems = Vec::new();
    for p in &probes {
        let (field, sql) = match p.measure {
            hostile::Measure::Dau => (
                "dau",
                "SELECT toUInt64(uniqExact(user_id)) FROM usage_events FINAL \
                 WHERE account_id = ? AND toDate(timestamp) = toDate(?)",
            ),
            hostile::Measure::Seats => (
                "seats",
                "SELECT toUInt64(max(JSONExtractUInt(payload, 'licensed_seats'))) FROM crm_events FINAL \
                 WHERE account_id = ? AND type = 'account' AND toDate(timestamp) < toDate(?)",
            ),
        };
        let scored = expected
            .get(&(p.account.to_owned(), "health".to_owned()))
            .and_then(|h| h["metrics"][field].as_u64())
            .unwrap_or_else(|| panic!("{}: replay gives no metrics.{field}", p.account));
        let stored: u64 = env
            .ch()
            .query(sql)
            .bind(p.account)
            .bind(day.to_string())
            .fetch_one()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        if scored != p.spec {
            problems.push(format!(
                "{} ({}): replay scores {field} {scored}, SPEC §1's copy gives {}",
                p.account, p.what, p.spec
            ));
        }
        if stored != scored {
            problems.push(format!(
                "{} ({}): SQL over the raw table FINAL gives {field} {stored}, the scores {scored}",
                p.account, p.what
            ));
        }
    }
    env.drop_database().await;
    assert!(problems.is_empty(), "the stored copy of a repeat is not the scored one:\n{}", problems.join("\n"));
}
