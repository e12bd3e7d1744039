#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use proptest::prelude::*;

fn member(conn: u64, user: &str) -> MemberState {
    MemberState {
        conn,
        user: UserId::new(user),
        name: Arc::from(user.to_uppercase()),
        device_type: "desktop".into(),
        browser: None,
        cursor: None,
        typing: None,
        editing: Vec::new(),
    }
}

fn msg(node: &str, inst: u64, seq: u64, body: SyncBody) -> SyncMessage {
    SyncMessage {
        node: node.into(),
        inst,
        seq,
        body,
    }
}

fn cursor(at: u64) -> CursorState {
    CursorState {
        position: serde_json::json!(at),
        selection: None,
        field: Some("body".into()),
    }
}

fn conns(state: &RemoteState) -> Vec<(String, u64)> {
    state
        .members()
        .map(|(n, m)| (n.to_string(), m.conn))
        .collect()
}

#[test]
fn wire_format_has_t_and_round_trips() {
    let mut m = member(3, "ann");
    m.cursor = Some(cursor(4));
    m.typing = Some(TypingState { field: None });
    let message = msg(
        "n1",
        7,
        2,
        SyncBody::Hello {
            to: None,
            members: vec![m],
        },
    );
    let text = serde_json::to_string(&message).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["t"], "room.hello");
    assert_eq!(value["node"], "n1");
    assert_eq!(value["members"][0]["user"], "ann");
    assert_eq!(serde_json::from_str::<SyncMessage>(&text).unwrap(), message);
    let closed = serde_json::to_value(msg("n1", u64::MAX / 2, 9, SyncBody::Closed)).unwrap();
    assert_eq!(closed["t"], "room.closed");
    let back: SyncMessage = serde_json::from_value(closed).unwrap();
    assert_eq!(back.inst, u64::MAX / 2);
    assert!(serde_json::from_str::<SyncMessage>(r#"{"t":"room.nope","node":"a"}"#).is_err());
}

#[test]
fn deltas_in_order_need_no_resync_and_changes_follow_the_member() {
    let mut s = RemoteState::default();
    let hello = s.apply(
        msg(
            "b",
            1,
            1,
            SyncBody::Hello {
                to: None,
                members: vec![],
            },
        ),
        "a",
    );
    assert!(hello.answer);
    assert!(hello.changes.is_empty());
    let j = s.apply(
        msg(
            "b",
            1,
            2,
            SyncBody::Joined {
                member: member(5, "bob"),
            },
        ),
        "a",
    );
    assert_eq!(j.ask, None);
    assert!(matches!(&j.changes[..], [Change::Joined { member, .. }] if member.conn == 5));
    let c = s.apply(
        msg(
            "b",
            1,
            3,
            SyncBody::Cursor {
                conn: 5,
                cursor: Some(cursor(1)),
            },
        ),
        "a",
    );
    assert!(
        matches!(&c.changes[..], [Change::Cursor { member, .. }] if member.cursor == Some(cursor(1)))
    );
    let t = s.apply(
        msg(
            "b",
            1,
            4,
            SyncBody::Typing {
                conn: 5,
                typing: Some(TypingState { field: None }),
            },
        ),
        "a",
    );
    assert_eq!(t.changes, vec![Change::Typing]);
    let l = s.apply(msg("b", 1, 5, SyncBody::Left { conn: 5 }), "a");
    match &l.changes[..] {
        [Change::Left { member, .. }] => {
            assert!(
                member.cursor.is_some() && member.typing.is_some(),
                "{member:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.is_empty());
    assert_eq!(l.ask, None);
}

#[test]
fn a_gap_or_an_unknown_sender_asks_for_the_full_state() {
    let mut s = RemoteState::default();
    // Joined from a node never heard from: applied, and its state asked.
    let j = s.apply(
        msg(
            "b",
            1,
            4,
            SyncBody::Joined {
                member: member(1, "bob"),
            },
        ),
        "a",
    );
    assert_eq!(j.ask.as_deref(), Some("b"));
    assert_eq!(conns(&s), vec![("b".into(), 1)]);
    // Seq 6 after 4: one message was missed.
    let g = s.apply(
        msg(
            "b",
            1,
            6,
            SyncBody::Joined {
                member: member(2, "bea"),
            },
        ),
        "a",
    );
    assert_eq!(g.ask.as_deref(), Some("b"));
    // The state answer replaces: conn 1 left meanwhile, conn 3 joined.
    let st = s.apply(
        msg(
            "b",
            1,
            7,
            SyncBody::State {
                members: vec![member(2, "bea"), member(3, "bo")],
            },
        ),
        "a",
    );
    assert!(!st.answer);
    assert!(
        matches!(&st.changes[..], [Change::Left { member: l, .. }, Change::Joined { member: j, .. }] if l.conn == 1 && j.conn == 3)
    );
    // A hello meant for another node is not answered, but applied.
    let h = s.apply(
        msg(
            "b",
            1,
            8,
            SyncBody::Hello {
                to: Some("c".into()),
                members: vec![member(2, "bea")],
            },
        ),
        "a",
    );
    assert!(!h.answer);
    assert_eq!(conns(&s), vec![("b".into(), 2)]);
}

#[test]
fn a_new_instance_replaces_the_old_and_a_stale_close_is_ignored() {
    let mut s = RemoteState::default();
    s.apply(
        msg(
            "b",
            1,
            1,
            SyncBody::State {
                members: vec![member(1, "bob")],
            },
        ),
        "a",
    );
    let d = s.apply(
        msg(
            "b",
            2,
            1,
            SyncBody::Joined {
                member: member(9, "bob"),
            },
        ),
        "a",
    );
    assert_eq!(d.ask.as_deref(), Some("b"));
    assert!(
        matches!(&d.changes[..], [Change::Left { member: l, .. }, Change::Joined { member: j, .. }] if l.conn == 1 && j.conn == 9)
    );
    // A close from the old instance changes nothing.
    assert!(s
        .apply(msg("b", 1, 2, SyncBody::Closed), "a")
        .changes
        .is_empty());
    assert_eq!(conns(&s), vec![("b".into(), 9)]);
    let closed = s.apply(msg("b", 2, 2, SyncBody::Closed), "a");
    assert_eq!(closed.changes.len(), 1);
    assert!(s.is_empty());
    // Own messages are ignored.
    assert_eq!(
        s.apply(
            msg(
                "a",
                1,
                1,
                SyncBody::Joined {
                    member: member(1, "x")
                }
            ),
            "a"
        ),
        Applied::default()
    );
}

#[test]
fn a_dead_node_leaves_with_everything_it_had() {
    let mut s = RemoteState::default();
    let mut m = member(1, "bob");
    m.cursor = Some(cursor(2));
    s.apply(
        msg(
            "b",
            1,
            1,
            SyncBody::State {
                members: vec![m, member(2, "bea")],
            },
        ),
        "a",
    );
    s.apply(
        msg(
            "c",
            1,
            1,
            SyncBody::State {
                members: vec![member(1, "cy")],
            },
        ),
        "a",
    );
    assert_eq!(s.node_ids(), vec!["b".to_string(), "c".to_string()]);
    let gone = s.drop_node("b");
    assert_eq!(gone.len(), 2);
    assert!(
        matches!(&gone[0], Change::Left { member, .. } if member.cursor.is_some()),
        "{gone:?}"
    );
    assert_eq!(conns(&s), vec![("c".into(), 1)]);
    assert!(s.drop_node("b").is_empty());
}

fn any_member() -> impl Strategy<Value = MemberState> {
    (0u64..6, 0u8..3, prop::option::of(0u64..9), any::<bool>()).prop_map(|(c, u, cur, typing)| {
        let mut m = member(c, &format!("u{u}"));
        m.cursor = cur.map(cursor);
        m.typing = typing.then_some(TypingState { field: None });
        m
    })
}

fn any_body() -> impl Strategy<Value = SyncBody> {
    prop_oneof![
        prop::collection::vec(any_member(), 0..5).prop_map(|members| SyncBody::State { members }),
        any_member().prop_map(|member| SyncBody::Joined { member }),
        (0u64..6).prop_map(|conn| SyncBody::Left { conn }),
        (0u64..6, prop::option::of(0u64..9)).prop_map(|(conn, c)| SyncBody::Cursor {
            conn,
            cursor: c.map(cursor)
        }),
    ]
}

proptest! {
    /// Whatever arrives, replaying the changes on a plain member list (as
    /// the room does on its member index) gives exactly the remote state:
    /// every join is announced once and every member that goes leaves once.
    #[test]
    fn changes_replayed_give_the_remote_state(
        bodies in prop::collection::vec((0u8..2, any_body()), 0..60),
    ) {
        let mut s = RemoteState::default();
        let mut seen: BTreeMap<(String, u64), MemberState> = BTreeMap::new();
        for (i, (node, body)) in bodies.into_iter().enumerate() {
            let node = format!("n{node}");
            let applied = s.apply(msg(&node, 1, i as u64, body), "me");
            for change in applied.changes {
                match change {
                    Change::Joined { node, member } => {
                        let prev = seen.insert((node.to_string(), member.conn), member);
                        prop_assert!(prev.is_none(), "joined twice");
                    }
                    Change::Left { node, member } => {
                        let prev = seen.remove(&(node.to_string(), member.conn));
                        prop_assert!(prev.is_some(), "left without joining");
                    }
                    Change::Cursor { node, member } => {
                        prop_assert!(member.cursor.is_some());
                        seen.insert((node.to_string(), member.conn), member);
                    }
                    Change::CursorRemoved { node, member } => {
                        if let Some(m) = seen.get_mut(&(node.to_string(), member.conn)) {
                            m.cursor = None;
                        }
                    }
                    Change::Typing | Change::Editing => {}
                }
            }
            let mut now: Vec<((String, u64), Option<CursorState>)> = s
                .members()
                .map(|(n, m)| ((n.to_string(), m.conn), m.cursor.clone()))
                .collect();
            now.sort_by(|a, b| a.0.cmp(&b.0));
            let replayed: Vec<((String, u64), Option<CursorState>)> =
                seen.iter().map(|(k, m)| (k.clone(), m.cursor.clone())).collect();
            prop_assert_eq!(now, replayed);
        }
    }
}
