//! A child process for tests that run real binaries: its stdout and stderr go to one log file, a test
//! waits for a line of that log (failing at once if the process died), and the process is stopped
//! when the handle is dropped, even when the test panics: SIGTERM, then SIGKILL after a grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::wait::{Check, eventually};

/// How long a dropped process may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running child process logging to a file; stopped on drop.
#[derive(Debug)]
pub struct LoggedProcess {
    name: String,
    log: PathBuf,
    child: Mutex<Child>,
    /// Set once the process was waited for.
    status: Mutex<Option<ExitStatus>>,
}

impl LoggedProcess {
    /// Spawns `command` with stdin closed and stdout and stderr appended to the file `log` (created).
    /// `name` names the process in messages.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("spawning {name} ({:?})", command.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            log: log.to_path_buf(),
            child: Mutex::new(child),
            status: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        lock(&self.child).id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The whole log so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status if the process has ended.
    pub fn exit_status(&self) -> anyhow::Result<Option<ExitStatus>> {
        let mut status = lock(&self.status);
        if status.is_none() {
            *status = lock(&self.child).try_wait()?;
        }
        Ok(*status)
    }

    /// Waits until a line of the log satisfies `matches` and returns it. Fails at once when the
    /// process exits first, or after `timeout`, with the end of the log.
    pub async fn wait_for_line(
        &self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let matches = &matches;
        eventually(timeout, || async move {
            // Read the log before asking whether the process is alive: a line written just before
            // it exited is still seen.
            let log = self.log();
            if let Some(line) = log.lines().find(|l| matches(l)) {
                return Check::Done(line.to_owned());
            }
            match self.exit_status() {
                Ok(None) => Check::not_yet(format!("no such line in the log of {}", self.name)),
                Ok(Some(status)) => Check::Fail(anyhow::anyhow!(
                    "{} exited ({status}) before logging the line",
                    self.name
                )),
                Err(e) => Check::Fail(e),
            }
        })
        .await
        .with_context(|| {
            format!(
                "waiting for a line of {}'s log; its end:\n{}",
                self.name,
                self.tail(30)
            )
        })
    }

    /// Stops the process: SIGTERM, then SIGKILL when it is still running after `grace`. Returns its
    /// exit status (a process killed by a signal has none: `status.code()` is `None`).
    pub fn stop(&self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exit_status()? {
            return Ok(status);
        }
        let pid = self.pid().to_string();
        // std only sends SIGKILL, and this workspace forbids `unsafe` (libc::kill): ask kill(1).
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut child = lock(&self.child);
        let _ = child.kill();
        let status = child.wait()?;
        *lock(&self.status) = Some(status);
        Ok(status)
    }
}

impl Drop for LoggedProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop(STOP_GRACE) {
            eprintln!("test-support: could not stop {}: {e:#}", self.name);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_a_line_and_stops_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo starting; sleep 0.1; echo 'listening on 1234' >&2; exec sleep 60",
        ]);
        let process = LoggedProcess::spawn("sleeper", command, &dir.path().join("log")).unwrap();
        let line = process
            .wait_for_line(Duration::from_secs(10), |l| l.starts_with("listening"))
            .await
            .unwrap();
        assert_eq!(line, "listening on 1234");
        assert!(process.log().starts_with("starting\n"));
        let pid = process.pid();
        let started = Instant::now();
        drop(process);
        assert!(started.elapsed() < STOP_GRACE, "SIGTERM did not end it");
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!alive.success(), "process {pid} still alive after drop");
    }

    #[tokio::test]
    async fn a_process_that_exits_fails_the_wait_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'config error: FOO is required'; exit 3"]);
        let process = LoggedProcess::spawn("broken", command, &dir.path().join("log")).unwrap();
        let started = Instant::now();
        let err = process
            .wait_for_line(Duration::from_secs(30), |l| l.contains("started"))
            .await
            .unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("broken exited"), "{message}");
        assert!(message.contains("FOO is required"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(process.stop(STOP_GRACE).unwrap().code(), Some(3));
    }
}
