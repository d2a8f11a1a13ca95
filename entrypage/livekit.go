package entrypage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/livekit"
	"github.com/guestgate/guestgate/token"
)

// The LiveKit token endpoint, POST {prefix}/livekit/token (docs/DESIGN.md
// section 9), is LiveKit's standardized token endpoint, which every LiveKit
// client SDK's endpoint TokenSource calls: an optional JSON body
// (TokenSourceRequest) answered 201 with {"server_url", "participant_token"}.
// The guest's session cookie says who asks; the body may only confirm it. The
// media connection then goes from the browser to LiveKit, past the gate, so
// the gateway watches the session of every guest it gave a token to, and
// removes the participant from the LiveKit room when the session must end.

// LiveKitTokenPath is the token endpoint's path under the prefix.
const LiveKitTokenPath = "livekit/token"

// maxLiveKitBody bounds the token request's body.
const maxLiveKitBody = 16 << 10

// liveKitRemoveWait bounds the RoomService calls that remove one participant,
// retries included: a removal reaches LiveKit within it or is logged as failed.
const liveKitRemoveWait = 2 * time.Second

// liveKitAnswer is the endpoint's 201 answer (TokenSourceResponse).
type liveKitAnswer struct {
	ServerURL        string `json:"server_url"`
	ParticipantToken string `json:"participant_token"`
}

// liveKitError is a refusal's body: the reason (the data-reason of the gate's
// page for the same session) and its sentence.
type liveKitError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// liveKitRequest is what the endpoint reads of a TokenSourceRequest: the
// fields that name a room or a participant, under their proto names and
// their JSON names, as protobuf JSON parsers accept both. The other fields
// (participant_metadata, participant_attributes, room_config, agent
// fields) are ignored: a guest's token carries only what the session grants.
var liveKitFields = []struct{ proto, json, what string }{
	{"room_name", "roomName", "room"},
	{"participant_identity", "participantIdentity", "identity"},
	{"participant_name", "participantName", "name"},
}

// liveKitToken serves POST {prefix}/livekit/token.
func (g *Gateway) liveKitToken(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return g.liveKitRefuse(w, r, ReasonBadRequest, http.StatusMethodNotAllowed)
	}
	// A page of another site may post here with the guest's cookie (a form,
	// or fetch without CORS); it must not get a token, even one it cannot
	// read. A JSON body needs a CORS preflight, which this endpoint never
	// answers; an empty one must come from this site too.
	if !sameOrigin(r) || !liveKitContentType(r) {
		return g.liveKitRefuse(w, r, ReasonNotAllowed, 0)
	}
	c := g.currentSession(r)
	if c == nil {
		return g.liveKitRefuse(w, r, ReasonNoSession, 0)
	}
	gen, now := g.svc.Generation(), g.svc.Now()
	state, err := g.svc.Check(r.Context(), c.Room, c.LinkID, c.Subject, now)
	if err != nil {
		if reason := reasonFor(err); reason != "" {
			return g.liveKitRefuse(w, r, reason, 0)
		}
		return g.internal(w, r, err)
	}
	if state != guestlink.StateAdmitted {
		// Waiting in the lobby: the gate refuses the room to this session.
		return g.liveKitRefuse(w, r, ReasonNotAllowed, 0)
	}
	if c.State != guestlink.StateAdmitted {
		e, err := g.upgrade(w, r, c)
		if err != nil {
			return g.internal(w, r, err)
		}
		c = e.claims
	}
	if reason, status := g.liveKitAsks(w, r, c); reason != "" {
		return g.liveKitRefuse(w, r, reason, status)
	}
	end := g.tokens.SessionEnd(c)
	tok, until, err := g.livekit.Token(livekit.Participant{
		Identity: c.Subject, Name: c.Name, Room: c.Room, Role: c.Role, Link: c.LinkID,
	}, now, end)
	if errors.Is(err, livekit.ErrSessionOver) {
		// Past session_max, within the leeway of the session's check.
		return g.liveKitRefuse(w, r, ReasonNoSession, 0)
	}
	if err != nil {
		return g.internal(w, r, err)
	}
	g.participants.watch(c, end, until, gen)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(liveKitAnswer{ServerURL: g.livekit.ServerURL(), ParticipantToken: tok})
}

// liveKitContentType reports whether r's body may be a token request: JSON,
// or no body and no Content-Type at all.
func liveKitContentType(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// liveKitAsks reads the request body and checks that what it asks for is the
// session's: it returns the reason and status of a refusal, or "".
func (g *Gateway) liveKitAsks(w http.ResponseWriter, r *http.Request, c *token.Claims) (string, int) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLiveKitBody))
	if err != nil {
		return ReasonBadRequest, 0
	}
	if len(body) == 0 {
		return "", 0
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return ReasonBadRequest, 0
	}
	own := map[string]string{"room": c.Room, "identity": c.Subject, "name": c.Name}
	for _, f := range liveKitFields {
		for _, key := range []string{f.proto, f.json} {
			raw, ok := fields[key]
			if !ok || string(raw) == "null" {
				continue
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return ReasonBadRequest, 0
			}
			if v != "" && v != own[f.what] {
				// Another room, or another participant: never this
				// session's to ask for.
				return ReasonNotAllowed, 0
			}
		}
	}
	return "", 0
}

// liveKitRefuse answers the token endpoint with reason as a JSON error, with
// reason's status unless status is set.
func (g *Gateway) liveKitRefuse(w http.ResponseWriter, r *http.Request, reason string, status int) error {
	if status == 0 {
		status = reasonStatus[reason]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(liveKitError{Reason: reason, Error: g.pages.T(r, "guest.message."+reason+".text")})
}

// participants are the LiveKit participants a gateway gave tokens to, each
// watched until its session must end (removed, declined, left, the room
// unavailable or deleted, session_max): then the participant is removed from
// the LiveKit room. Any instance's change reaches every instance's watcher
// through the store's Generation, so the instance that gave a guest a token
// removes them, whichever instance the moderator used. Guest access switched
// off and a deleted link leave them in, as they leave open connections.
//
// A participant whose token another process gave (an instance since
// restarted, stopped for good, or the previous configuration of this one)
// is watched by nobody. So every gateway also lists LiveKit's rooms, first a
// second after it starts and then every Config.LiveKitAdopt, and in those
// that are rooms of its store adopts the participants that are its store's
// guests (by the store's record, or by the store's tag for one purged since:
// adopt) and that it does not watch: one whose session has ended is removed
// at once, any other is watched from then on.
// Every instance adopts every participant; a removal made twice finds the
// participant gone the second time. A LiveKit room that is no room of the
// store (another application's, another store's) is not looked into, unless
// it was one in an earlier round of this gateway: deleted since, while
// nobody watched some of its participants, it is looked into while LiveKit
// lists it, and its tagged guests, whom the store no longer knows, are
// removed.
//
// LiveKit's RemoveParticipant cuts a participant who is in the room, but
// revokes nothing: a guest removed before joining could still join with the
// token they hold, and a guest who was ever connected holds tokens that
// LiveKit renewed for them, valid livekit.RenewedTTL from the last renewal
// whatever the gateway's token said, and each join brings another. So a
// participant whose session ended lingers while a token they may hold is
// valid (the gateway's, and livekit.RenewedTTL from the removal, and from
// each later removal the sweeper makes), or until a failed removal goes
// through: every liveKitSweep, the sweeper lists the rooms of the
// lingering, removes those it finds there, and forgets those whose tokens
// have expired once the room's list no longer has them.
type participants struct {
	watcher    *watcher
	client     *livekit.Client
	now        func() time.Time              // the clock of the tokens' expiry
	sessionEnd func(*token.Claims) time.Time // auth_time + session_max
	// onRemove is told of every removal: the room, the guest, how long the
	// RoomService calls took and their error (livekit.ErrNotFound for a
	// guest who was not in the room).
	onRemove func(room, guest string, took time.Duration, err error)

	mu      sync.Mutex
	entries map[[2]string]*participant
	// lingering maps room -> guest -> the expiry of the newest token given
	// to the guest; sweeping says the sweeper runs.
	lingering map[string]map[string]time.Time
	sweeping  bool
	// onAdoptErr is told when a round of adopting failed.
	onAdoptErr func(error)
	// had are the rooms the last round looked into or found in the store;
	// only the adopting loop uses it.
	had map[string]bool
	// stopAdopting ends the adopting loop and waits for it, once.
	stopAdopting func()
}

// participant is one watched participant: until is the expiry of the newest
// token given to them, guarded by participants.mu.
type participant struct {
	w     *watched
	until time.Time
}

// liveKitSweep is how often the rooms of lingering participants are looked at.
const liveKitSweep = time.Second

// DefaultLiveKitAdopt is how often a gateway looks for participants nobody
// watches, and liveKitAdoptFirst how long after its start it looks first (a
// config that is only validated is cleaned up before). The participants of
// an instance that is gone for good are adopted by the others within
// DefaultLiveKitAdopt; those of an instance that restarted, by it within
// liveKitAdoptFirst of its start.
const (
	DefaultLiveKitAdopt = 30 * time.Second
	liveKitAdoptFirst   = time.Second
)

// liveKitAdoptWait bounds each step of a round of adopting: listing the
// rooms, and one room's participants with their store reads.
const liveKitAdoptWait = 10 * time.Second

// liveKitHandOver is how long a closed gateway keeps watching its
// participants: long enough for the next configuration's gateway to have
// adopted them in two rounds, so that a reload leaves no gap.
const liveKitHandOver = DefaultLiveKitAdopt + liveKitAdoptWait

// startAdopting starts the loop that adopts participants every every;
// close ends it.
func (p *participants) startAdopting(every time.Duration) {
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stopAdopting = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		wait := min(liveKitAdoptFirst, every)
		for {
			select {
			case <-stop.Done():
				return
			case <-time.After(wait):
			}
			if err := p.adoptAll(stop); err != nil && stop.Err() == nil && p.onAdoptErr != nil {
				p.onAdoptErr(err)
			}
			wait = every
		}
	}()
}

// close ends the adopting loop, waiting for a round under way, and
// liveKitHandOver later stops watching the participants it watches then,
// without removing any: meanwhile the next configuration's gateway adopts
// them.
func (p *participants) close() {
	p.stopAdopting()
	time.AfterFunc(liveKitHandOver, p.forgetAll)
}

// forgetAll stops watching every participant without removing any.
func (p *participants) forgetAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, e := range p.entries {
		p.watcher.remove(e.w)
		delete(p.entries, key)
	}
}

// adoptAll lists LiveKit's rooms and adopts the participants of those
// that are rooms of the store, or were in an earlier round (p.had). It
// returns the first error of the round; what failed is tried again next
// round.
func (p *participants) adoptAll(stop context.Context) error {
	svc := p.watcher.svc
	ctx, cancel := context.WithTimeout(stop, liveKitAdoptWait)
	defer cancel()
	live, err := p.client.ListRooms(ctx)
	if err != nil || len(live) == 0 {
		return err
	}
	rooms, err := svc.Rooms(ctx)
	if err != nil {
		return err
	}
	look := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		look[r.ID] = true
	}
	var first error
	for _, room := range live {
		if look[room] || p.had[room] {
			look[room] = true
			first = cmp.Or(first, p.adoptRoom(stop, room))
		}
	}
	p.had = look
	return first
}

// adoptRoom adopts the participants of LiveKit room room, a room of the
// store, within liveKitAdoptWait.
func (p *participants) adoptRoom(stop context.Context, room string) error {
	ctx, cancel := context.WithTimeout(stop, liveKitAdoptWait)
	defer cancel()
	present, err := p.client.ListParticipants(ctx, room)
	if err != nil {
		return err
	}
	for _, lp := range present {
		if guestlink.ValidID("g", lp.Identity) {
			p.adopt(ctx, room, lp.Identity, p.client.Tagged(room, lp))
		}
	}
	return nil
}

// adopt watches guest, a participant of LiveKit room room, unless it is
// watched or lingering already; a guest whose session has ended is removed
// at once. Any token given to the guest before now expires within the
// client's TTL, and remove keeps them lingering that long, and as long as
// a token LiveKit renewed for them may be valid.
//
// The store's record says whose the participant is, and by which link or
// invitation they came. One the store does not know is this store's only
// if tagged says so (a guest since purged, or of a room since deleted): an
// untagged one may be a guest of another store in a room of the same name.
// An untagged one the store knows is its own: a token from before the tag, or a moderator who
// stripped it (room admins may change attributes; the identity nobody can).
func (p *participants) adopt(ctx context.Context, room, guest string, tagged bool) {
	key := [2]string{room, guest}
	p.mu.Lock()
	_, held := p.entries[key]
	_, lingering := p.lingering[room][guest]
	p.mu.Unlock()
	if held || lingering {
		return
	}
	svc := p.watcher.svc
	gen, now := svc.Generation(), p.now()
	until := now.Add(p.client.TTL())
	g, err := svc.Guest(ctx, room, guest)
	switch {
	case errors.Is(err, guestlink.ErrGuestNotFound) && tagged:
		go p.remove(room, guest, until)
		return
	case err != nil || ctx.Err() != nil:
		return // not this store's, the store did not answer, or the gateway closes
	}
	c := &token.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: guest}, Room: room, LinkID: g.LinkID,
		AuthTime: g.RedeemedAt.Unix(), State: g.State, Name: g.Name, Role: g.Role}
	end := p.sessionEnd(c)
	if (&watched{c: c, end: end}).over(ctx, svc, now) {
		go p.remove(room, guest, until)
		return
	}
	p.watch(c, end, until, gen)
}

// watch registers the participant of session c, which ends at end, checked
// at generation gen, who got a token valid until until; a participant
// registered already only has until moved.
func (p *participants) watch(c *token.Claims, end, until time.Time, gen uint64) {
	key := [2]string{c.Room, c.Subject}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[key]; ok {
		e.until = later(e.until, until)
		return
	}
	e := &participant{w: &watched{c: c, end: end}, until: until}
	e.w.stop = sync.OnceFunc(func() {
		p.watcher.remove(e.w)
		p.mu.Lock()
		if p.entries[key] == e {
			delete(p.entries, key)
		}
		until := e.until // read after the deletion: a token given meanwhile moved it
		p.mu.Unlock()
		go p.remove(c.Room, c.Subject, until)
	})
	p.entries[key] = e
	p.watcher.add(e.w, gen)
}

// remove removes guest, who got a token valid until until, from LiveKit
// room room; guest lingers while a token they may hold is valid: until, or
// one LiveKit renewed (livekit.RenewedTTL from now), and until a failed
// call went through.
func (p *participants) remove(room, guest string, until time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), liveKitRemoveWait)
	defer cancel()
	_ = p.removeNow(ctx, room, guest)
	p.linger(room, guest, later(until, p.now().Add(livekit.RenewedTTL)))
}

// removeNow makes the RoomService calls that remove guest from room, and
// tells onRemove.
func (p *participants) removeNow(ctx context.Context, room, guest string) error {
	start := time.Now()
	err := p.client.RemoveParticipant(ctx, room, guest)
	if p.onRemove != nil {
		p.onRemove(room, guest, time.Since(start), err)
	}
	return err
}

// linger adds guest of room to the lingering, and starts the sweeper.
func (p *participants) linger(room, guest string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lingering[room] == nil {
		p.lingering[room] = map[string]time.Time{}
	}
	p.lingering[room][guest] = later(p.lingering[room][guest], until)
	if !p.sweeping {
		p.sweeping = true
		go p.sweep()
	}
}

// sweep looks at the rooms of the lingering every liveKitSweep until none
// is left. A room whose list fails keeps its lingering for the next sweep.
func (p *participants) sweep() {
	for {
		time.Sleep(liveKitSweep)
		p.mu.Lock()
		rooms := make(map[string][]string, len(p.lingering))
		for room, guests := range p.lingering {
			for guest := range guests {
				rooms[room] = append(rooms[room], guest)
			}
		}
		if len(rooms) == 0 {
			p.sweeping = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for room, guests := range rooms {
			p.sweepRoom(room, guests)
		}
	}
}

// sweepRoom removes those of guests who are in LiveKit room room, keeping
// them lingering while the token their join brought is valid, and forgets
// those who are not there and whose tokens have expired.
func (p *participants) sweepRoom(room string, guests []string) {
	ctx, cancel := context.WithTimeout(context.Background(), liveKitRemoveWait)
	defer cancel()
	present, err := p.client.ListParticipants(ctx, room)
	if err != nil {
		return
	}
	for _, guest := range guests {
		if slices.ContainsFunc(present, func(lp livekit.Present) bool { return lp.Identity == guest }) {
			// Still lingering, and looked at again: the join brought a
			// token LiveKit renewed, valid livekit.RenewedTTL.
			_ = p.removeNow(ctx, room, guest)
			p.linger(room, guest, p.now().Add(livekit.RenewedTTL))
			continue
		}
		p.mu.Lock()
		if until, ok := p.lingering[room][guest]; ok && !p.now().Before(until) {
			delete(p.lingering[room], guest)
			if len(p.lingering[room]) == 0 {
				delete(p.lingering, room)
			}
		}
		p.mu.Unlock()
	}
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
