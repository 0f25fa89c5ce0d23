use crate::helpers::{Options, TestApp};

#[tokio::test]
async fn healthz_and_readyz_answer_200_on_a_migrated_database() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get_plain(path).await.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test]
async fn readyz_answers_503_when_the_schema_loses_a_table_and_healthz_stays_up() {
    let app = TestApp::spawn().await;
    app.db.run_sql("DROP TABLE \"ScimToken\"").await;
    let ready = app.get_plain("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["reason"], "database schema incomplete");
    assert_eq!(app.get_plain("/healthz").await.status().as_u16(), 200);
}

#[tokio::test]
async fn health_endpoints_are_neither_authenticated_nor_licence_gated() {
    let app = TestApp::spawn_with(Options::unlicensed(&[("SCIM_ENABLED", "false")])).await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get_plain(path).await.status().as_u16(), 200, "{path}");
    }
}
