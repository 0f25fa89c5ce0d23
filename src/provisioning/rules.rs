//! The decisions of an update, as pure functions: what changes on the shared `"User"` row and
//! on the membership, given what the IdP sent and what is stored.

use crate::scim::{ScimError, ScimType};

/// What becomes of the account's sign-in address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressChange<'a> {
    /// Unchanged (or changed in spelling only: the app keeps its own spelling).
    Keep,
    /// The account moves to this address (after a check that no other account owns it).
    Move(&'a str),
}

/// Decides the sign-in address. `same_identity` says whether `new` and `current` are one
/// address in another case or normalisation form (decided in SQL). The `"User"` row is shared
/// with every org the person belongs to: while there is another (`shared`), this org's IdP may
/// not re-address it, which would hand the other org's member to whoever owns the new address.
pub fn address_change<'a>(
    new: Option<&'a str>,
    current: Option<&str>,
    same_identity: bool,
    shared: bool,
) -> Result<AddressChange<'a>, ScimError> {
    match (new, current) {
        (None, _) => Ok(AddressChange::Keep),
        (Some(new), Some(current)) if new == current || same_identity => Ok(AddressChange::Keep),
        (Some(_), _) if shared => Err(ScimError::bad_request(
            ScimType::Mutability,
            "The sign-in e-mail address cannot change: the account also belongs to another organization.",
        )),
        (Some(new), _) => Ok(AddressChange::Move(new)),
    }
}

/// The new `"User".name`, if it changes: only while the account is this org's alone (this org
/// still reads back what its IdP sent, from its stored attributes).
pub fn name_change<'a>(
    new: Option<&'a str>,
    current: Option<&str>,
    shared: bool,
) -> Option<&'a str> {
    new.filter(|name| !shared && current != Some(*name))
}

/// What an update does to the membership's `active` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Deprovision,
    Reactivate,
}

pub fn transition(was_active: bool, wants_active: bool) -> Transition {
    match (was_active, wants_active) {
        (true, false) => Transition::Deprovision,
        (false, true) => Transition::Reactivate,
        _ => Transition::None,
    }
}

/// What an update or DELETE of one existing member is about to do, as far as the org-wide
/// rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The membership has no `"UserToOrg"` row (removed in `remove` mode): no row to lock.
    pub removed: bool,
    /// The userName changes: it must stay unique in the org.
    pub user_name_changes: bool,
    /// The externalId changes: it must stay unique in the org.
    pub external_id_changes: bool,
    /// An active OWNER is deprovisioned: another active owner must remain.
    pub deprovisions_owner: bool,
}

/// Whether the change needs the org's membership lock, beside the person's row locks: only
/// when it decides an org-wide rule, or when there is no row to lock. Everything else
/// (a profile change, a member's deprovisioning, a reactivation, whose seat the seat ledger
/// decides) is written under the person's row locks alone, in parallel with other people.
pub fn needs_org_lock(scope: Scope) -> bool {
    scope.removed
        || scope.user_name_changes
        || scope.external_id_changes
        || scope.deprovisions_owner
}

/// The smallest margin below the seat cap inside which every activation counts the seats in
/// use exactly.
pub const SEAT_MARGIN_MIN: i64 = 100;

/// The seat ledger answers without counting while it holds fewer seats than this: the cap
/// minus a margin of 5 % of it, and at least [`SEAT_MARGIN_MIN`]. Closer to the cap, every
/// activation counts exactly.
pub fn seat_fast_limit(cap: u32) -> i64 {
    let cap = i64::from(cap);
    cap - (cap / 20).max(SEAT_MARGIN_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_org_wide_rules_take_the_org_lock() {
        let plain = Scope {
            removed: false,
            user_name_changes: false,
            external_id_changes: false,
            deprovisions_owner: false,
        };
        assert!(!needs_org_lock(plain));
        for scope in [
            Scope {
                removed: true,
                ..plain
            },
            Scope {
                user_name_changes: true,
                ..plain
            },
            Scope {
                external_id_changes: true,
                ..plain
            },
            Scope {
                deprovisions_owner: true,
                ..plain
            },
        ] {
            assert!(needs_org_lock(scope), "{scope:?}");
        }
    }

    #[test]
    fn the_seat_ledger_counts_exactly_near_the_cap() {
        assert_eq!(seat_fast_limit(3), -97);
        assert_eq!(seat_fast_limit(100), 0);
        assert_eq!(seat_fast_limit(2_000), 1_900);
        assert_eq!(seat_fast_limit(1_000_000), 950_000);
    }

    #[test]
    fn address_changes_follow_the_shared_account_rule() {
        use AddressChange::{Keep, Move};
        let a = Some("a@example.com");
        let b = Some("b@example.com");
        // (new, current, same identity, shared) -> outcome
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            bool,
            bool,
            Result<AddressChange<'a>, ScimType>,
        );
        let cases: [Case; 8] = [
            (None, a, false, false, Ok(Keep)),
            (a, a, true, true, Ok(Keep)),
            (Some("A@Example.com"), a, true, false, Ok(Keep)),
            (Some("A@Example.com"), a, true, true, Ok(Keep)),
            (b, a, false, false, Ok(Move("b@example.com"))),
            (b, a, false, true, Err(ScimType::Mutability)),
            (b, None, false, false, Ok(Move("b@example.com"))),
            (b, None, false, true, Err(ScimType::Mutability)),
        ];
        for (new, current, same, shared, expected) in cases {
            let outcome = address_change(new, current, same, shared)
                .map_err(|error| error.scim_type.expect("a SCIM type"));
            assert_eq!(outcome, expected, "{new:?} {current:?} {same} {shared}");
        }
    }

    #[test]
    fn names_change_only_on_an_account_of_this_org_alone() {
        let cases = [
            (Some("Jo"), Some("Jo"), false, None),
            (Some("Jo"), Some("Joe"), false, Some("Jo")),
            (Some("Jo"), None, false, Some("Jo")),
            (Some("Jo"), Some("Joe"), true, None),
            (None, Some("Joe"), false, None),
        ];
        for (new, current, shared, expected) in cases {
            assert_eq!(
                name_change(new, current, shared),
                expected,
                "{new:?} {current:?} {shared}"
            );
        }
    }

    #[test]
    fn transitions_follow_active() {
        assert_eq!(transition(true, false), Transition::Deprovision);
        assert_eq!(transition(false, true), Transition::Reactivate);
        assert_eq!(transition(true, true), Transition::None);
        assert_eq!(transition(false, false), Transition::None);
    }
}
