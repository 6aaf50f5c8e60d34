use std::path::Path;

use super::file::line_column;
use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn role(name: &str) -> RoleName {
    RoleName::new(name).unwrap()
}

#[test]
fn every_fault_parses_from_toml() {
    let s = Scenario::from_toml_str(
        r#"
name = "all"
description = "one of each"

[[event]]
at = 1
duration = 2
fault = "outage"

[[event]]
at = 1.5
duration = 2
fault = "outage"
mode = "http"
status = 503
retry_after = 4
target = "credentials"

[[event]]
at = 2
fault = "outage"
mode = "reset"
target = "token"

[[event]]
at = 3
duration = 1
fault = "malformed"
body = "missing-fields"
target = "info"

[[event]]
at = 4
duration = 1
fault = "delay"
delay = 0.25

[[event]]
at = 5
duration = 1
fault = "throttle"
per_second = 3

[[event]]
at = 6
duration = 1
fault = "expired"

[[event]]
at = 7
duration = 1
fault = "not-rotated"

[[event]]
at = 8
fault = "detach"

[[event]]
at = 9
fault = "attach"
role = "a"

[[event]]
at = 10
fault = "change"
role = "b"

[[event]]
at = 11
fault = "rotate"

[[event]]
at = 12
fault = "outage"
mode = "drop"
"#,
    )
    .unwrap();
    assert_eq!(s.name(), Some("all"));
    assert_eq!(s.description(), Some("one of each"));
    let e = s.events();
    assert_eq!(e.len(), 13);
    assert_eq!(e[0].fault(), &Fault::Outage(OutageMode::Timeout));
    assert_eq!(e[0].target(), Target::Any);
    assert_eq!(e[0].duration(), Some(secs(2)));
    assert_eq!(e[1].at(), Duration::from_millis(1500));
    assert_eq!(
        e[1].fault(),
        &Fault::Outage(OutageMode::Http {
            status: 503,
            retry_after: Some(4)
        })
    );
    assert_eq!(e[1].target(), Target::Credentials);
    assert_eq!(e[2].fault(), &Fault::Outage(OutageMode::Reset));
    assert_eq!(e[2].duration(), None);
    assert_eq!(e[3].fault(), &Fault::Malformed(Malformation::MissingFields));
    assert_eq!(e[3].target(), Target::Info);
    assert_eq!(e[4].fault(), &Fault::Delay(Duration::from_millis(250)));
    assert_eq!(e[5].fault(), &Fault::Throttle { per_second: 3 });
    assert_eq!(e[6].fault(), &Fault::Expired { by: secs(60) });
    assert_eq!(e[6].target(), Target::Credentials);
    assert_eq!(e[7].fault(), &Fault::NotRotated);
    assert_eq!(e[8].fault(), &Fault::Detach);
    assert!(e[8].is_instant());
    assert_eq!(e[9].fault(), &Fault::Attach(role("a")));
    assert_eq!(e[10].fault(), &Fault::Change(role("b")));
    assert_eq!(e[11].fault(), &Fault::Rotate);
    assert_eq!(e[12].fault(), &Fault::Outage(OutageMode::Timeout));
}

#[test]
fn json_reads_the_same_as_toml() {
    let toml = Scenario::from_toml_str(
        r#"
[[event]]
at = 60
duration = 30
fault = "outage"
mode = "http"
status = 500

[[event]]
at = 90
fault = "change"
role = "next"
"#,
    )
    .unwrap();
    let json = Scenario::from_json_str(
        r#"{"events": [
            {"at": 60, "duration": 30, "fault": "outage", "mode": "http", "status": 500},
            {"at": 90.0, "fault": "change", "role": "next"}
        ]}"#,
    )
    .unwrap();
    assert_eq!(toml, json);
    assert_eq!(Scenario::from_json_str("{}").unwrap(), Scenario::default());
}

#[test]
fn scenarios_can_be_built_in_code() {
    let s = Scenario::new(vec![
        Event::new(secs(1), Fault::Outage(OutageMode::Reset)).lasting(secs(2)),
        Event::new(secs(3), Fault::Rotate),
        Event::new(secs(4), Fault::Malformed(Malformation::Empty)).on(Target::Token),
    ])
    .unwrap()
    .with_name("built");
    assert_eq!(s.name(), Some("built"));
    assert_eq!(s.events()[2].target(), Target::Token);

    let err = Scenario::new(vec![
        Event::new(secs(1), Fault::Delay(secs(1))),
        Event::new(secs(3), Fault::Detach).lasting(secs(2)),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "event 1: field `duration` does not apply to fault `detach`, which happens at an instant"
    );
    let err = Scenario::new(vec![Event::new(
        secs(1),
        Fault::Outage(OutageMode::Http {
            status: 200,
            retry_after: None,
        }),
    )])
    .unwrap_err();
    assert!(err.to_string().contains("field `status`"), "{err}");
    assert!(
        Scenario::new(vec![
            Event::new(secs(1), Fault::Expired { by: secs(1) }).on(Target::Token)
        ])
        .is_err()
    );
}

/// A bad file, the line and field the error must name, and a fragment of the message.
struct Bad {
    desc: &'static str,
    text: &'static str,
    line: usize,
    field: Option<&'static str>,
    message: &'static str,
}

#[test]
fn bad_toml_files_name_line_and_field() {
    let cases = [
        Bad {
            desc: "unknown fault",
            text: "[[event]]\nat = 1\nfault = \"explode\"\n",
            line: 3,
            field: Some("event[0].fault"),
            message: "unknown variant `explode`",
        },
        Bad {
            desc: "negative time",
            text: "[[event]]\nat = 1\nfault = \"rotate\"\n\n[[event]]\nat = -5\nfault = \"detach\"\n",
            line: 6,
            field: Some("event[1].at"),
            message: "non-negative number of seconds",
        },
        Bad {
            desc: "wrong type",
            text: "[[event]]\nat = \"soon\"\nfault = \"rotate\"\n",
            line: 2,
            field: Some("event[0].at"),
            message: "invalid type",
        },
        Bad {
            desc: "misspelt field",
            text: "[[event]]\nat = 1\nfault = \"delay\"\ndelya = 2\n",
            line: 4,
            field: Some("event[0].delya"),
            message: "unknown field `delya`",
        },
        Bad {
            desc: "missing at",
            text: "[[event]]\nfault = \"detach\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "missing field `at`",
        },
        Bad {
            desc: "field that does not apply",
            text: "[[event]]\nat = 1\nfault = \"detach\"\nrole = \"x\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `role` does not apply to fault `detach`",
        },
        Bad {
            desc: "required field missing",
            text: "[[event]]\nat = 1\nfault = \"attach\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `role` is required by fault `attach`",
        },
        Bad {
            desc: "bad mode",
            text: "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"sometimes\"\n",
            line: 4,
            field: Some("event[0].mode"),
            message: "unknown variant `sometimes`",
        },
        Bad {
            desc: "status without http mode",
            text: "[[event]]\nat = 1\nfault = \"outage\"\nstatus = 503\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `status` applies only to an outage with mode `http`",
        },
        Bad {
            desc: "status out of range",
            text: "[[event]]\nat = 1\nfault = \"outage\"\nmode = \"http\"\nstatus = 302\n",
            line: 1,
            field: Some("event[0]"),
            message: "302 is not an HTTP error status",
        },
        Bad {
            desc: "invalid role name",
            text: "[[event]]\nat = 1\nfault = \"change\"\nrole = \"a/b\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `role`: role name contains '/'",
        },
        Bad {
            desc: "duration on an instant",
            text: "[[event]]\nat = 1\nduration = 5\nfault = \"rotate\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `duration` does not apply to fault `rotate`",
        },
        Bad {
            desc: "syntax error",
            text: "[[event]]\nat = 1\nfault = \"rotate\n",
            line: 3,
            field: None,
            message: "",
        },
        Bad {
            desc: "unknown top-level key",
            text: "nmae = \"x\"\n",
            line: 1,
            field: Some("nmae"),
            message: "unknown field `nmae`",
        },
        Bad {
            desc: "malformed body on the wrong target",
            text: "[[event]]\nat = 1\nfault = \"malformed\"\nbody = \"bad-expiration\"\ntarget = \"token\"\n",
            line: 1,
            field: Some("event[0]"),
            message: "body `bad-expiration` cannot apply to `token`",
        },
        Bad {
            desc: "zero throttle",
            text: "[[event]]\nat = 1\nfault = \"throttle\"\nper_second = 0\n",
            line: 1,
            field: Some("event[0]"),
            message: "field `per_second` must be at least 1",
        },
    ];
    for case in cases {
        let err = Scenario::from_toml_str(case.text).expect_err(case.desc);
        let ScenarioError::Parse {
            line,
            column,
            field,
            message,
            format,
            ..
        } = &err
        else {
            panic!("{}: not a parse error: {err:?}", case.desc);
        };
        assert_eq!(*format, ScenarioFormat::Toml);
        assert_eq!(*line, case.line, "{}: {err}", case.desc);
        assert!(*column >= 1, "{}: {err}", case.desc);
        assert_eq!(field.as_deref(), case.field, "{}: {err}", case.desc);
        assert!(
            message.contains(case.message),
            "{}: {message:?} lacks {:?}",
            case.desc,
            case.message
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("<toml>:{line}:{column}: ")),
            "{shown}"
        );
        assert!(
            shown.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{shown}"
        );
    }
}

#[test]
fn bad_json_files_name_line_and_field() {
    let cases = [
        Bad {
            desc: "wrong type",
            text: "{\n  \"event\": [\n    {\"at\": 1, \"fault\": \"delay\", \"delay\": \"x\"}\n  ]\n}",
            line: 3,
            field: Some("event[0].delay"),
            message: "invalid type",
        },
        Bad {
            desc: "unknown fault",
            text: "{\"event\": [\n{\"at\": 1,\n \"fault\": \"boom\"}]}",
            line: 3,
            field: Some("event[0].fault"),
            message: "unknown variant `boom`",
        },
        Bad {
            // Checks across fields point at the end of the event's object.
            desc: "cross-field check",
            text: "{\"event\": [\n{\"at\": 1, \"fault\": \"rotate\"},\n{\"at\": 2, \"fault\": \"attach\"}\n]}",
            line: 4,
            field: Some("event[1]"),
            message: "field `role` is required by fault `attach`",
        },
        Bad {
            desc: "trailing characters",
            text: "{}\n}",
            line: 2,
            field: None,
            message: "trailing characters",
        },
        Bad {
            desc: "syntax error",
            text: "{\"event\": [\n{\"at\": 1,,}]}",
            line: 2,
            field: Some("event[0]"),
            message: "key must be a string",
        },
    ];
    for case in cases {
        let err = Scenario::from_json_str(case.text).expect_err(case.desc);
        assert_eq!(err.line(), Some(case.line), "{}: {err}", case.desc);
        assert_eq!(err.field(), case.field, "{}: {err}", case.desc);
        assert!(
            err.to_string().contains(case.message),
            "{}: {err}",
            case.desc
        );
        assert!(err.to_string().starts_with("<json>:"), "{err}");
    }
}

#[test]
fn files_are_read_by_extension() {
    let dir = std::env::temp_dir().join(format!("credcycle-sim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("s.toml");
    std::fs::write(&toml, "[[event]]\nat = 1\nfault = \"rotate\"\n").unwrap();
    let json = dir.join("s.JSON");
    std::fs::write(&json, "{\"event\": [{\"at\": 1, \"fault\": \"rotate\"}]}").unwrap();
    assert_eq!(
        Scenario::from_path(&toml).unwrap(),
        Scenario::from_path(&json).unwrap()
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[event]]\nat = 1\nfault = \"nope\"\n").unwrap();
    let err = Scenario::from_path(&bad).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3:9: event[0].fault: ", bad.display())),
        "{err}"
    );

    let yaml = dir.join("s.yaml");
    assert!(matches!(
        Scenario::from_path(&yaml),
        Err(ScenarioError::UnknownFormat { .. })
    ));
    let missing = dir.join("missing.toml");
    let err = Scenario::from_path(&missing).unwrap_err();
    assert!(matches!(err, ScenarioError::Read { .. }));
    assert!(std::error::Error::source(&err).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "toml" || ext == "json" {
            let s = Scenario::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.events().is_empty(), "{}", path.display());
            assert!(s.name().is_some(), "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 5, "only {count} example scenarios");
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncd", 0), (1, 1));
    assert_eq!(line_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_column("é\nx", 3), (2, 1));
    assert_eq!(line_column("abc", 99), (1, 4));
}
