//! A broker of the test's own (tansu, as `scripts/stack` runs it, on a free port with
//! its own SQLite file) that a fault test may stop and start without disturbing the
//! other tests on the shared stack's broker.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The tansu binary: on the `PATH`, else where `cargo install` put it (as `scripts/stack`).
fn tansu_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo/bin/tansu"))
}

/// A running (or stopped) private broker; killed when dropped.
pub struct PrivateBroker {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateBroker {
    /// Starts a broker on a free port, storing its log in a fresh SQLite file.
    pub fn start() -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free local port");
        let dir = tempfile::tempdir().expect("broker dir");
        let mut b = Self { addr, dir, child: None };
        b.resume();
        b
    }

    /// `host:port`, for `kafka.brokers`.
    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }

    /// Starts the broker again on the same port and storage (topics and offsets kept).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the private broker already runs");
        let url = format!("tcp://{}", self.addr);
        let log = std::fs::File::create(self.dir.path().join("broker.log")).expect("broker log");
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            // A relative sqlite:// path is read from the working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start tansu ({}): {e} (scripts/stack up installs it)", tansu_bin().display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "private broker not listening on {} within 30 s", self.addr);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the broker (an outage: clients see connections refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
