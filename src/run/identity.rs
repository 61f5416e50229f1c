//! Whose call this is: the caller's number, and whether it can be trusted
//! to be this call's (only then is anything personal said, or the caller's
//! memory read or written).

use crate::config::CallIdentity;
use crate::hub::follow::Subscription;

/// The caller's number, and whether it can be trusted to be this call's.
///
/// - A `--uniqueid` on the command line can only have come from the call's
///   own realtime row (Asterisk substitutes nothing in a static class's
///   `application`), so what the hub says of it is this call's, and only
///   that counts: no value from the environment.
/// - A `--caller` on the command line is the operator's word.
/// - A number from `PHONE` may be another call's (`ENV()` is process-wide):
///   untrusted until AMI confirms it.
pub fn who(id: &CallIdentity, hub: Option<&Subscription>) -> (Option<String>, bool) {
    if let Some(sub) = hub.filter(|s| id.uniqueid_in_argv() && !s.channel.is_empty()) {
        let known = (!sub.caller.is_empty()).then(|| sub.caller.clone());
        if id.caller_in_argv() && id.caller().map(str::to_string) != known {
            tracing::warn!("the caller given is not the call's: no personal announcements");
            return (None, false);
        }
        tracing::info!(channel = %sub.channel, "identity from Asterisk through the hub");
        return (known, true);
    }
    (id.caller().map(str::to_string), id.caller_in_argv())
}
