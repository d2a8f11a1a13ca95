package guestlink

import "time"

// Lobby defaults (docs/DESIGN.md section 1, the lobby).
const (
	// DefaultLobbyTimeout is how long a waiting guest stays in the moderator's
	// list without a status request from their lobby page (lobby_timeout).
	DefaultLobbyTimeout = 2 * time.Minute
	// SeenInterval is the finest grain at which a waiting guest's LastSeen is
	// written to the store: a lobby page polling every few seconds costs one write
	// per SeenInterval, not one per poll.
	SeenInterval = 15 * time.Second
	// DefaultRetention is how long a guest record, with its name and email, is
	// kept after the redemption (retention).
	DefaultRetention = 30 * 24 * time.Hour
)

// Transition returns g moved to state to at now, by the moderator's and the
// guest's rules:
//   - admit and decline apply to waiting guests; repeating the same decision is
//     harmless (g comes back unchanged, changed false); deciding the other way,
//     or deciding on a guest who left or was removed, is ErrAlreadyDecided;
//   - remove applies to any guest and is final (repeating it is harmless);
//   - left is the guest leaving: from waiting or admitted; otherwise unchanged.
//
// Any other target state is ErrAlreadyDecided.
func Transition(g Guest, to string, now time.Time) (next Guest, changed bool, err error) {
	if g.State == to {
		return g, false, nil
	}
	switch to {
	case StateAdmitted, StateDeclined:
		if g.State != StateWaiting {
			return g, false, ErrAlreadyDecided
		}
	case StateRemoved:
	case StateLeft:
		if g.State != StateWaiting && g.State != StateAdmitted {
			return g, false, nil
		}
	default:
		return g, false, ErrAlreadyDecided
	}
	g.State, g.UpdatedAt = to, now
	return g, true, nil
}

// InLobby reports whether g is shown in the lobby at now: waiting, and seen (a
// lobby page asked for its status) within timeout.
func InLobby(g Guest, now time.Time, timeout time.Duration) bool {
	return g.State == StateWaiting && now.Sub(g.LastSeen) < timeout
}
