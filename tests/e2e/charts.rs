//! The chart repository the tests serve on loopback: the project's Cilium and
//! kube-prometheus-stack test charts (tests/e2e/charts/, with the real defaults and schema from
//! tests/e2e/fixtures/), packaged and indexed by real `helm package` and `helm repo index`, served
//! by a small HTTP file server, so `helm repo add` and `helm repo update` run for real.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{fixture, helm, repo_root, run_ok};

pub struct Repo {
    pub url: String,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The repository, built and served once per run.
pub fn repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let base = repo_root().join("target/e2e-charts");
        let _ = std::fs::remove_dir_all(&base);
        let src = base.join("src");
        let dir = base.join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        // (chart dir, fixture dir, version): the Cilium test chart at two releases, so that an
        // upgrade across chart versions runs for real.
        for (chart, values, version) in [
            ("cilium", "cilium", "1.18.12"),
            ("cilium", "cilium-1.19.6", "1.19.6"),
            ("kube-prometheus-stack", "kube-prometheus-stack", "88.5.3"),
        ] {
            let to = src.join(format!("{chart}-{version}"));
            copy_dir(&repo_root().join("tests/e2e/charts").join(chart), &to);
            let meta = std::fs::read_to_string(to.join("Chart.yaml")).unwrap();
            let meta: String = meta
                .lines()
                .map(|l| {
                    if l.starts_with("version:") {
                        format!("version: {version}\n")
                    } else if l.starts_with("appVersion:") && chart == "cilium" {
                        format!("appVersion: {version}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            std::fs::write(to.join("Chart.yaml"), meta).unwrap();
            for f in ["values.yaml", "values.schema.json"] {
                let from = fixture(&format!("{values}/{f}"));
                if from.exists() {
                    std::fs::copy(&from, to.join(f)).unwrap();
                }
            }
            let homes = base.join("helm-home");
            run_ok(
                Command::new(helm(4))
                    .args(["package", "--destination"])
                    .arg(&dir)
                    .arg(&to)
                    .env("HELM_CONFIG_HOME", homes.join("config"))
                    .env("HELM_CACHE_HOME", homes.join("cache"))
                    .env("HELM_DATA_HOME", homes.join("data")),
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        run_ok(
            Command::new(helm(4))
                .args(["repo", "index"])
                .arg(&dir)
                .args(["--url", &url]),
        );
        std::thread::spawn(move || serve_files(listener, dir));
        Repo { url }
    })
}

/// GET of files under `root`, one thread a connection; anything else is 404.
fn serve_files(l: TcpListener, root: PathBuf) {
    // Bounded: a test run asks for a few hundred files.
    for conn in l.incoming().take(100_000) {
        let Ok(mut s) = conn else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = vec![0u8; 16 * 1024];
            let mut n = 0;
            while n < buf.len() {
                match s.read(&mut buf[n..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        n += k;
                        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("GET "))
                .and_then(|l| l.split(' ').next())
                .unwrap_or("");
            let name = path.trim_start_matches('/');
            let body = (!name.is_empty() && !name.contains("..") && !name.contains('/'))
                .then(|| std::fs::read(root.join(name)).ok())
                .flatten();
            match body {
                Some(b) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    let _ = s.write_all(&b);
                }
                None => {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        });
    }
}
