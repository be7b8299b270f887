//! The GitHub stand-in answers in GitHub's formats: driven here with a plain HTTP client.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use testkit::github::{StandIn, TokenKind, User};
use tokio::sync::mpsc;

const REDIRECT: &str = "http://127.0.0.1:9/auth/github/callback?next=%2F";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn user(id: u64, login: &str) -> User {
    User {
        id,
        login: login.to_owned(),
        name: format!("{login} Liddell"),
        email: Some(format!("{login}@example.com")),
        orgs: vec!["wonderland".to_owned()],
    }
}

fn classic(scopes: &[&str]) -> TokenKind {
    TokenKind::Classic {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// A git repository in a temporary folder, removed on drop.
struct TempRepo(PathBuf);

impl TempRepo {
    fn new() -> TempRepo {
        let dir = std::env::temp_dir().join(format!("gh-stand-in-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let repo = TempRepo(dir);
        repo.git(&["init", "-q", "-b", "master"]);
        repo.commit("Dockerfile", "FROM scratch\n", "First");
        repo
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Alice",
                "-c",
                "user.email=alice@example.com",
            ])
            .arg("-C")
            .arg(&self.0)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Commits one file; returns the new head.
    fn commit(&self, file: &str, content: &str, message: &str) -> String {
        std::fs::write(self.0.join(file), content).unwrap();
        self.git(&["add", file]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

impl Drop for TempRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the authorize form for alice; returns the redirect's query.
async fn authorize(gh: &StandIn, scope: &str, state: &str) -> HashMap<String, String> {
    let answer = http()
        .post(format!("{}/login/oauth/authorize", gh.web_url()))
        .form(&[
            ("login", "alice"),
            ("client_id", "client-1"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", state),
            ("authorize", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let location = url::Url::parse(location).unwrap();
    location.query_pairs().into_owned().collect()
}

async fn exchange(gh: &StandIn, code: &str) -> Value {
    http()
        .post(format!("{}/login/oauth/access_token", gh.web_url()))
        .header("Accept", "application/json")
        .form(&[
            ("client_id", "client-1"),
            ("client_secret", "secret-1"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn signed_in() -> StandIn {
    let gh = StandIn::start().await;
    gh.oauth_app("client-1", "secret-1");
    gh.add_user(user(101, "alice"));
    gh
}

#[tokio::test]
async fn sign_in_round_trip_issues_a_classic_token_with_the_asked_scopes() {
    let gh = signed_in().await;
    let page = http()
        .get(format!("{}/login/oauth/authorize", gh.web_url()))
        .query(&[
            ("client_id", "client-1"),
            ("redirect_uri", REDIRECT),
            ("scope", "read:user read:org"),
            ("state", "s&1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Authorize Slipway</title>"));
    assert!(html.contains(r#"<label for="login">Sign in as</label>"#));
    assert!(html.contains(r#"<option value="alice">"#));
    assert!(html.contains(r#"name="state" value="s&amp;1""#));
    assert_eq!(gh.authorize_requests()[0].state.as_deref(), Some("s&1"));

    let query = authorize(&gh, "read:user read:org", "s&1").await;
    assert_eq!(query["state"], "s&1");
    assert_eq!(query["next"], "/");
    let token = exchange(&gh, &query["code"]).await;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["scope"], "read:user,read:org");
    let access = token["access_token"].as_str().unwrap();
    assert!(access.starts_with("gho_"));

    let me = http()
        .get(format!("{}/user", gh.api_url()))
        .header("Authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.headers()["x-oauth-scopes"], "read:user, read:org");
    assert_eq!(
        me.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["login"].as_str(), me["id"].as_u64()),
        (Some("alice"), Some(101))
    );
    assert_eq!(me["type"], "User");
    let orgs: Value = http()
        .get(format!("{}/user/orgs", gh.api_url()))
        .header("Authorization", format!("token {access}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orgs[0]["login"], "wonderland");
}

#[tokio::test]
async fn a_used_code_is_refused_with_200_and_bad_verification_code() {
    let gh = signed_in().await;
    let code = authorize(&gh, "read:user", "s").await["code"].clone();
    // Client credentials in HTTP Basic, as the `oauth2` crate sends them.
    let first: Value = http()
        .post(format!("{}/login/oauth/access_token", gh.web_url()))
        .basic_auth("client-1", Some("secret-1"))
        .header("Accept", "application/json")
        .form(&[
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(first["access_token"].is_string(), "{first}");

    let again = exchange(&gh, &code).await;
    assert_eq!(again["error"], "bad_verification_code");
    assert_eq!(
        again["error_description"],
        "The code passed is incorrect or expired."
    );
    // Without `Accept: application/json`, GitHub answers form-encoded.
    let form = http()
        .post(format!("{}/login/oauth/access_token", gh.web_url()))
        .form(&[
            ("client_id", "client-1"),
            ("client_secret", "wrong"),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form
        .text()
        .await
        .unwrap()
        .starts_with("error=incorrect_client_credentials&"));
}

#[tokio::test]
async fn tarball_redirects_to_codeload_with_a_one_time_token() {
    let gh = signed_in().await;
    let repo = TempRepo::new();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    gh.add_repo("alice/shop", repo.path(), "master", &[]);
    gh.add_token("t-repo", "alice", classic(&["repo"]));

    let answer = http()
        .get(format!("{}/repos/alice/shop/tarball/master", gh.api_url()))
        .header("Authorization", "token t-repo")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let expected = format!(
        "{}/alice/shop/legacy.tar.gz/{sha}?token=",
        gh.codeload_url()
    );
    assert!(location.starts_with(&expected), "{location}");

    let archive = http().get(&location).send().await.unwrap();
    assert_eq!(archive.headers()["content-type"], "application/x-gzip");
    let bytes = archive.bytes().await.unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    let top = format!("alice-shop-{}", &sha[..7]);
    assert!(names.contains(&"pax_global_header".to_owned()), "{names:?}");
    assert!(names.contains(&format!("{top}/Dockerfile")), "{names:?}");

    let reused = http().get(&location).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::NOT_FOUND);
    let codeload: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.origin == testkit::github::Origin::Codeload)
        .collect();
    assert_eq!(codeload.len(), 2);
    assert!(codeload.iter().all(|r| r.authorization.is_none()));
}

/// A local webhook receiver: every request's headers and body, in a channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| async move {
            tx.send((headers, body)).unwrap();
            "thanks"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_new_hook_is_pinged_and_then_receives_signed_pushes() {
    let gh = signed_in().await;
    gh.add_user(user(102, "bob"));
    let repo = TempRepo::new();
    let first = repo.git(&["rev-parse", "HEAD"]);
    gh.add_repo(
        "wonderland/shop",
        repo.path(),
        "master",
        &[("alice", true), ("bob", false)],
    );
    gh.add_token("t-alice", "alice", classic(&["admin:repo_hook"]));
    gh.add_token("t-bob", "bob", classic(&["repo"]));
    let (url, mut received) = receiver().await;
    let hook = json!({"name": "web", "active": true, "events": ["push"],
                      "config": {"url": url, "content_type": "json", "secret": "s3cret", "insecure_ssl": "0"}});
    let hooks_url = format!("{}/repos/wonderland/shop/hooks", gh.api_url());

    let refused = http()
        .post(&hooks_url)
        .header("Authorization", "token t-bob")
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::NOT_FOUND,
        "only admins see hooks"
    );
    let created = http()
        .post(&hooks_url)
        .header("Authorization", "token t-alice")
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["config"]["secret"], "********");
    assert_eq!(created["events"], json!(["push"]));

    let (headers, body) = received.recv().await.unwrap();
    assert_eq!(headers["x-github-event"], "ping");
    assert_eq!(
        headers["x-github-hook-id"],
        created["id"].to_string().as_str()
    );
    assert_eq!(
        headers["x-hub-signature-256"],
        signed("s3cret", &body).as_str()
    );
    let ping: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ping["hook_id"], created["id"]);
    assert_eq!(ping["repository"]["full_name"], "wonderland/shop");
    gh.wait_for_deliveries("ping", 1).await;

    let second = repo.commit("app.txt", "hello\n", "Second");
    let delivery = gh.push("wonderland/shop", "master").await;
    assert_eq!(delivery.answers[0].status, Some(200));
    assert_eq!(delivery.answers[0].body, "thanks");
    let (headers, body) = received.recv().await.unwrap();
    assert_eq!(headers["x-github-event"], "push");
    assert_eq!(headers["x-github-delivery"], delivery.id.as_str());
    assert!(headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("GitHub-Hookshot/"));
    assert_eq!(
        headers["x-hub-signature-256"],
        signed("s3cret", &body).as_str()
    );
    let push: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(push["ref"], "refs/heads/master");
    assert_eq!(
        (push["before"].as_str(), push["after"].as_str()),
        (Some(&*first), Some(&*second))
    );
    assert_eq!(
        (push["created"].as_bool(), push["forced"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(push["head_commit"]["message"], "Second");
    assert_eq!(push["head_commit"]["added"], json!(["app.txt"]));
    assert_eq!(push["head_commit"]["author"]["username"], "alice");
    assert_eq!(push["commits"].as_array().unwrap().len(), 1);

    let again = gh.redeliver(&delivery.id).await;
    let (headers, body_again) = received.recv().await.unwrap();
    assert_eq!(headers["x-github-delivery"], delivery.id.as_str());
    assert_eq!((body_again, again.redelivery), (body, true));
}

#[tokio::test]
async fn statuses_combine_by_context_and_need_the_right_token() {
    let gh = signed_in().await;
    let repo = TempRepo::new();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    gh.add_repo("alice/shop", repo.path(), "master", &[]);
    gh.add_token("t-status", "alice", classic(&["repo:status"]));
    gh.add_token(
        "t-fine",
        "alice",
        TokenKind::FineGrained {
            repos: vec!["alice/shop".to_owned()],
            administration: false,
            statuses: false,
        },
    );
    let post = |token: &'static str, body: Value| {
        http()
            .post(format!("{}/repos/alice/shop/statuses/{sha}", gh.api_url()))
            .header("Authorization", format!("token {token}"))
            .json(&body)
            .send()
    };
    let combined = || async {
        let answer = http()
            .get(format!(
                "{}/repos/alice/shop/commits/master/status",
                gh.api_url()
            ))
            .header("Authorization", "token t-status")
            .send()
            .await
            .unwrap();
        answer.json::<Value>().await.unwrap()
    };
    assert_eq!(
        combined().await["state"],
        "pending",
        "no status yet is pending"
    );

    let created = post(
        "t-status",
        json!({"state": "pending", "context": "slipway/deploy", "target_url": "http://x/1"}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["creator"]["login"], "alice");
    post(
        "t-status",
        json!({"state": "success", "context": "slipway/deploy"}),
    )
    .await
    .unwrap();
    gh.set_status("alice/shop", &sha, "success", "ci/other");
    let combined = combined().await;
    assert_eq!(combined["state"], "success");
    assert_eq!(combined["total_count"], 2);
    assert_eq!(combined["sha"], sha.as_str());

    let invalid = post("t-status", json!({"state": "done"})).await.unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid.json::<Value>().await.unwrap()["message"],
        "Validation Failed"
    );
    let forbidden = post("t-fine", json!({"state": "success"})).await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(forbidden.headers().get("x-oauth-scopes").is_none());
    assert_eq!(
        forbidden.json::<Value>().await.unwrap()["message"],
        "Resource not accessible by personal access token"
    );
    gh.revoke_token("t-status");
    let revoked = post("t-status", json!({"state": "success"})).await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        revoked.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );

    let states: Vec<String> = gh
        .statuses("alice/shop", &sha)
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["pending", "success", "success"]);
}

#[tokio::test]
async fn repository_branches_and_commits_come_from_git() {
    let gh = signed_in().await;
    let repo = TempRepo::new();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    gh.add_repo("alice/shop", repo.path(), "master", &[]);
    gh.add_token("t-repo", "alice", classic(&["repo"]));
    gh.add_token("t-none", "alice", classic(&[]));
    let get = |path: String, token: &'static str| {
        http()
            .get(format!("{}{path}", gh.api_url()))
            .header("Authorization", format!("token {token}"))
            .send()
    };

    let shop: Value = get("/repos/alice/shop".into(), "t-repo")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shop["full_name"].as_str(), shop["private"].as_bool()),
        (Some("alice/shop"), Some(true))
    );
    assert_eq!(shop["permissions"]["admin"], true);
    let hidden = get("/repos/alice/shop".into(), "t-none").await.unwrap();
    assert_eq!(
        hidden.status(),
        StatusCode::NOT_FOUND,
        "a private repo needs the repo scope"
    );
    let branch: Value = get("/repos/alice/shop/branches/master".into(), "t-repo")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(branch["commit"]["sha"], sha.as_str());
    assert_eq!(branch["commit"]["commit"]["message"], "First");
    assert_eq!(branch["commit"]["author"]["login"], "alice");
    let missing = get("/repos/alice/shop/branches/nope".into(), "t-repo")
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Branch not found"
    );
    let unknown = get(
        format!("/repos/alice/shop/commits/{}", "f".repeat(40)),
        "t-repo",
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
