package caddymodule

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
)

// Webhook is one webhook endpoint of guest_admin (the webhook subdirective):
// every event of the store whose type it asks for is POSTed to URL as JSON,
// signed with Secret, from a queue kept in the store.
type Webhook struct {
	// URL receives the events: an absolute http or https URL. Redirects are not
	// followed.
	URL string `json:"url"`

	// Secret is the HMAC-SHA256 key of the X-Guestgate-Signature header: at
	// least 16 bytes after placeholders ({env.X}, {file.path}) are resolved.
	// Required.
	Secret string `json:"secret"`

	// Events are the event types delivered, from guestlink.EventTypes
	// ("guest.redeemed", "access.off", ...). Default: every type.
	Events []string `json:"events,omitempty"`
}

// Delivery settings of webhooks.
const (
	// MinWebhookSecretLen is the shortest webhook secret, in bytes.
	MinWebhookSecretLen = 16
	// webhookTimeout bounds one delivery: connecting, sending and the answer.
	webhookTimeout = 10 * time.Second
	// webhookMaxAttempts is how many failed deliveries of one event are made
	// before it is dropped with an error log.
	webhookMaxAttempts = 20
	// webhookBackoffBase and webhookBackoffMax shape the pause before a retry:
	// 1 s, 2 s, 4 s ... doubling up to 10 min, each within +-25 % (jitter).
	webhookBackoffBase = time.Second
	webhookBackoffMax  = 10 * time.Minute
	// webhookBatch is how many due events the dispatcher reads from one queue
	// at a time; it holds no more than that per endpoint in memory.
	webhookBatch = 8
	// webhookWorkers is the most deliveries in flight per store, one per
	// endpoint at a time.
	webhookWorkers = 4
	// webhookDropLogEvery rate-limits the warning about events dropped from a
	// full queue.
	webhookDropLogEvery = time.Minute
	// webhookStoreTimeout bounds one queue operation.
	webhookStoreTimeout = 10 * time.Second
)

// Headers of a webhook delivery.
const (
	HeaderWebhookTimestamp = "X-Guestgate-Timestamp"
	HeaderWebhookEvent     = "X-Guestgate-Event"
	HeaderWebhookDelivery  = "X-Guestgate-Delivery"
	HeaderWebhookSignature = "X-Guestgate-Signature"
)

// checkWebhook holds the pure checks of one webhook.
func checkWebhook(w Webhook) error {
	if err := checkWebhookURL(w.URL); err != nil {
		return err
	}
	if w.Secret == "" {
		return fmt.Errorf("webhook %s: secret is required", redactURL(w.URL))
	}
	return checkWebhookEvents(w)
}

// checkWebhookURL refuses anything but an absolute http or https URL.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %q: must be an absolute http or https URL", raw)
	}
	return nil
}

// checkWebhookEvents refuses an event type that is not in guestlink.EventTypes,
// naming it.
func checkWebhookEvents(w Webhook) error {
	for _, e := range w.Events {
		if !slices.Contains(guestlink.EventTypes, e) {
			return fmt.Errorf("webhook %s: unknown event type %q; known: %s", redactURL(w.URL), e, strings.Join(guestlink.EventTypes, ", "))
		}
	}
	return nil
}

// checkWebhooks checks every webhook and refuses a URL given twice.
func checkWebhooks(ws []Webhook) error {
	seen := map[string]bool{}
	for _, w := range ws {
		if err := checkWebhook(w); err != nil {
			return err
		}
		if seen[w.URL] {
			return fmt.Errorf("webhook %s: configured twice", redactURL(w.URL))
		}
		seen[w.URL] = true
	}
	return nil
}

// redactURL is u for logs and errors: without user info, query and fragment,
// which may carry credentials.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// webhookQueue is the name of the queue of the endpoint at u: "wh-" and the
// first 8 bytes of the SHA-256 of the URL, in hex.
func webhookQueue(u string) string {
	sum := sha256.Sum256([]byte(u))
	return "wh-" + hex.EncodeToString(sum[:8])
}

// signWebhook returns the X-Guestgate-Signature value of body sent at
// timestamp (Unix seconds, as in X-Guestgate-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of "<timestamp>.<body>" with secret.
func signWebhook(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookEndpoint is a webhook as provisioned: secret resolved, filter made.
type webhookEndpoint struct {
	url    string
	queue  string
	secret []byte
	// events is the filter; nil means every type.
	events map[string]bool
	// emails keeps guest_name and guest_email in the body (audit_emails).
	emails bool
}

func (ep *webhookEndpoint) wants(typ string) bool { return ep.events == nil || ep.events[typ] }

// newWebhookEndpoints resolves the placeholders of the configured webhooks.
func newWebhookEndpoints(ws []Webhook, emails bool) ([]*webhookEndpoint, error) {
	var eps []*webhookEndpoint
	for _, w := range ws {
		secret := resolveSecret(w.Secret)
		if len(secret) < MinWebhookSecretLen {
			return nil, fmt.Errorf("webhook %s: secret must be at least %d bytes after placeholders are resolved, got %d", redactURL(w.URL), MinWebhookSecretLen, len(secret))
		}
		ep := &webhookEndpoint{url: w.URL, queue: webhookQueue(w.URL), secret: []byte(secret), emails: emails}
		if len(w.Events) > 0 {
			ep.events = map[string]bool{}
			for _, e := range w.Events {
				ep.events[e] = true
			}
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// webhookHubs holds one webhookHub per store key, like storePool holds the
// stores: every handler on a store takes a use of its hub in Provision and
// gives it back in Cleanup, before it releases the store.
var webhookHubs = caddy.NewUsagePool()

// acquireHub returns the webhook hub of the store at key, making it on first
// use. Every successful call must be matched by one releaseHub(key).
func acquireHub(key string, store guestlink.Store) (*webhookHub, error) {
	val, _, err := webhookHubs.LoadOrNew(key, func() (caddy.Destructor, error) {
		q, _ := store.(guestlink.Queuer)
		return newWebhookHub(q, caddy.Log().Named("guestgate.webhook")), nil
	})
	if err != nil {
		return nil, err
	}
	return val.(*webhookHub), nil
}

// releaseHub drops one use of the hub at key; the last one stops its
// dispatcher.
func releaseHub(key string) error {
	_, err := webhookHubs.Delete(key)
	return err
}

// webhookHub routes the events of one store to the webhooks of the guest_admin
// handlers on that store, whichever handler's Service emitted them (guest_admin,
// guest_gateway, the admin endpoint): publish, the Services' event hook, only
// enqueues, durably, one item per endpoint whose filter matches; a dispatcher
// goroutine, running while there is an endpoint, delivers from the queues.
//
// The endpoints are the union of the webhooks of the guest_admin handlers
// provisioned on the store, by URL; while a config reload overlaps two configs,
// the newer handler's settings win for a URL both have.
type webhookHub struct {
	q      guestlink.Queuer
	logger *zap.Logger
	client *http.Client
	now    func() time.Time
	// maxLen bounds each queue (guestlink.DefaultQueueLen); backoffBase and
	// backoffMax shape retries (tests shorten them).
	maxLen                  int
	backoffBase, backoffMax time.Duration

	// wake tells the dispatcher that something was enqueued.
	wake chan struct{}

	mu sync.Mutex
	// regs are the webhooks of each provisioned guest_admin handler, oldest
	// first; endpoints is their union by queue name.
	regs      []*webhookReg
	endpoints map[string]*webhookEndpoint
	// queues holds the delivery state of every queue seen, by name.
	queues map[string]*queueState
	// cancel stops the running dispatcher (nil when none runs); done is closed
	// when the last dispatcher started has stopped.
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// webhookReg is what one guest_admin handler registers.
type webhookReg struct{ endpoints []*webhookEndpoint }

// queueState is the delivery state of one endpoint's queue.
type queueState struct {
	// enqueue serializes the changes of the queue's length made in this
	// process (Enqueue, Ack), which would otherwise conflict and be retried.
	enqueue sync.Mutex

	// The rest is guarded by webhookHub.mu.

	// pending: items may be due now (an enqueue, or a batch that was full).
	pending bool
	// busy: a worker delivers from the queue.
	busy bool
	// nextDue is when an item the dispatcher knows of is due again.
	nextDue time.Time
	// failures counts failed deliveries in a row; from the second on, the
	// endpoint counts as down and the queue pauses until pausedUntil.
	failures    int
	pausedUntil time.Time
	// dropped counts events dropped from the full queue since the last
	// warning, which was at droppedLogged.
	dropped       int
	droppedLogged time.Time
}

func newWebhookHub(q guestlink.Queuer, logger *zap.Logger) *webhookHub {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	return &webhookHub{
		q:      q,
		logger: logger,
		client: &http.Client{
			Transport: tr,
			Timeout:   webhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now:         time.Now,
		maxLen:      guestlink.DefaultQueueLen,
		backoffBase: webhookBackoffBase,
		backoffMax:  webhookBackoffMax,
		wake:        make(chan struct{}, 1),
		endpoints:   map[string]*webhookEndpoint{},
		queues:      map[string]*queueState{},
	}
}

// register adds the webhooks of a provisioned guest_admin handler and starts
// the dispatcher if it is not running; unregister(r) takes them away again.
func (h *webhookHub) register(r *webhookReg) error {
	if len(r.endpoints) == 0 {
		return nil
	}
	if h.q == nil {
		return errors.New("webhook: the store keeps no queues (guestlink.Queuer), which webhooks need")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("webhook: the store's event hub is closed")
	}
	h.regs = append(h.regs, r)
	h.updateLocked()
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		prev, done := h.done, make(chan struct{})
		h.cancel, h.done = cancel, done
		go h.run(ctx, prev, done)
	}
	h.signal()
	return nil
}

// signal wakes the dispatcher without waiting.
func (h *webhookHub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *webhookHub) unregister(r *webhookReg) {
	h.mu.Lock()
	h.regs = slices.DeleteFunc(h.regs, func(x *webhookReg) bool { return x == r })
	h.updateLocked()
	var cancel context.CancelFunc
	done := h.done
	if len(h.endpoints) == 0 && h.cancel != nil {
		cancel, h.cancel = h.cancel, nil
	}
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// updateLocked recomputes the endpoints from regs, newest last so it wins.
func (h *webhookHub) updateLocked() {
	h.endpoints = map[string]*webhookEndpoint{}
	for _, r := range h.regs {
		for _, ep := range r.endpoints {
			h.endpoints[ep.queue] = ep
		}
	}
	for name := range h.endpoints {
		if h.queues[name] == nil {
			h.queues[name] = &queueState{}
		}
		h.queues[name].pending = true // look at what waits on disk
	}
}

// Destruct stops the dispatcher when the last handler on the store is cleaned
// up; undelivered events stay queued in the store.
func (h *webhookHub) Destruct() error {
	h.mu.Lock()
	h.closed = true
	h.regs, h.endpoints = nil, map[string]*webhookEndpoint{}
	cancel, done := h.cancel, h.done
	h.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	h.client.CloseIdleConnections()
	return nil
}

// publish is the event hook of the Services on the store: it enqueues e for
// every endpoint that wants it (one small write each) and wakes the
// dispatcher. It never delivers, so it never waits for an endpoint.
func (h *webhookHub) publish(e guestlink.Event) {
	h.mu.Lock()
	var eps []*webhookEndpoint
	for _, ep := range h.endpoints {
		if ep.wants(e.Type) {
			eps = append(eps, ep)
		}
	}
	h.mu.Unlock()
	if len(eps) == 0 {
		return
	}
	var full, lean []byte
	queued := false
	for _, ep := range eps {
		body, err := webhookBody(e, ep.emails, &full, &lean)
		if err == nil {
			err = h.enqueue(ep, body)
		}
		if err != nil {
			h.logger.Error("webhook: queueing an event failed; it will not be delivered to this endpoint",
				zap.String("url", redactURL(ep.url)), zap.String("event_id", e.ID), zap.String("event", e.Type), zap.Error(err))
			continue
		}
		queued = true
	}
	if queued {
		h.signal()
	}
}

// webhookBody is the JSON body of e: the Event, without the guest's name and
// email unless emails. full and lean cache the two forms.
func webhookBody(e guestlink.Event, emails bool, full, lean *[]byte) ([]byte, error) {
	dst := lean
	if emails {
		dst = full
	} else {
		e.GuestName, e.GuestEmail = "", ""
	}
	if *dst == nil {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		*dst = b
	}
	return *dst, nil
}

// enqueue writes one item to the endpoint's queue and notes it for the
// dispatcher; events dropped from a full queue are logged at most once per
// webhookDropLogEvery.
func (h *webhookHub) enqueue(ep *webhookEndpoint, body []byte) error {
	h.mu.Lock()
	st := h.queues[ep.queue]
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), webhookStoreTimeout)
	defer cancel()
	st.enqueue.Lock()
	dropped, err := h.q.Enqueue(ctx, ep.queue, body, h.maxLen)
	st.enqueue.Unlock()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st.pending = true
	if dropped > 0 {
		st.dropped += dropped
		if now := h.now(); now.Sub(st.droppedLogged) >= webhookDropLogEvery {
			h.logger.Warn("webhook: queue full, dropped the oldest undelivered events",
				zap.String("url", redactURL(ep.url)), zap.Int("dropped", st.dropped), zap.Int("queue_limit", h.maxLen))
			st.dropped, st.droppedLogged = 0, now
		}
	}
	return nil
}

// backoff is the pause after the n-th failure in a row (n >= 1): base, doubling,
// capped at max, within +-25 %.
func (h *webhookHub) backoff(n int) time.Duration {
	d := h.backoffMax
	if n < 32 {
		d = min(h.backoffBase<<(n-1), h.backoffMax)
	}
	return d*3/4 + rand.N(d/2+1)
}

// run is the dispatcher: it waits for an enqueue, a finished worker or the
// next due time, then starts a worker for each queue with something due, at
// most webhookWorkers at once. It returns when ctx ends, after its workers.
// It starts only after the dispatcher before it (prev) has stopped.
func (h *webhookHub) run(ctx context.Context, prev <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if prev != nil {
		<-prev
	}
	h.logOrphanQueues(ctx)
	results := make(chan struct{})
	inFlight := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wakeAt := h.startWorkers(ctx, results, &inFlight)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !wakeAt.IsZero() {
			timer.Reset(max(wakeAt.Sub(h.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			for ; inFlight > 0; inFlight-- {
				<-results
			}
			return
		case <-h.wake:
		case <-results:
			inFlight--
		case <-timer.C:
		}
	}
}

// startWorkers starts a worker for every queue of a current endpoint that is
// not paused, not busy, and has something due, while fewer than
// webhookWorkers run; it returns when to look again (zero: on the next wake).
func (h *webhookHub) startWorkers(ctx context.Context, results chan<- struct{}, inFlight *int) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	var wakeAt time.Time
	later := func(t time.Time) {
		if wakeAt.IsZero() || t.Before(wakeAt) {
			wakeAt = t
		}
	}
	names := make([]string, 0, len(h.endpoints))
	for name := range h.endpoints {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st := h.queues[name]
		switch {
		case st.busy:
		case now.Before(st.pausedUntil):
			later(st.pausedUntil)
		case !st.pending && (st.nextDue.IsZero() || now.Before(st.nextDue)):
			if !st.nextDue.IsZero() {
				later(st.nextDue)
			}
		case *inFlight >= webhookWorkers:
			// A worker's result wakes the dispatcher.
		default:
			st.busy, st.pending, st.nextDue = true, false, time.Time{}
			*inFlight++
			ep := h.endpoints[name]
			go func() {
				h.drain(ctx, ep, st)
				results <- struct{}{}
			}()
		}
	}
	return wakeAt
}

// drain delivers a batch of due items of ep's queue, in order. A 2xx answer
// acknowledges an item; a failure schedules its retry, or drops it after
// webhookMaxAttempts. After the second failure in a row the endpoint counts
// as down: the queue pauses, with one warning per pause.
func (h *webhookHub) drain(ctx context.Context, ep *webhookEndpoint, st *queueState) {
	// The store operations outlive a stop, so that a delivery that was made is
	// recorded; stopping waits for them.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webhookStoreTimeout)
	defer cancel()
	defer func() {
		h.mu.Lock()
		st.busy = false
		h.mu.Unlock()
	}()
	items, next, err := h.q.Due(sctx, ep.queue, h.now(), webhookBatch)
	if err != nil {
		h.logger.Error("webhook: reading the queue failed", zap.String("url", redactURL(ep.url)), zap.Error(err))
		h.mu.Lock()
		st.pausedUntil, st.pending = h.now().Add(h.backoff(1)), true
		h.mu.Unlock()
		return
	}
	soonest := next
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		err := h.deliver(ctx, ep, it)
		if ctx.Err() != nil {
			return // stopping: the item stays due, without an attempt counted
		}
		now := h.now()
		if err == nil {
			st.enqueue.Lock()
			err := h.q.Ack(sctx, ep.queue, it.ID)
			st.enqueue.Unlock()
			if err != nil {
				h.logger.Error("webhook: recording a delivery failed; the event may be delivered again",
					zap.String("url", redactURL(ep.url)), zap.String("queue_item", it.ID), zap.Error(err))
			}
			h.mu.Lock()
			recovered := st.failures >= 2
			st.failures = 0
			h.mu.Unlock()
			if recovered {
				h.logger.Info("webhook: endpoint answers again", zap.String("url", redactURL(ep.url)))
			}
			continue
		}
		attempts := it.Attempts + 1
		if attempts >= webhookMaxAttempts {
			h.logger.Error("webhook: giving up on an event",
				zap.String("url", redactURL(ep.url)), zap.String("delivery", deliveryID(it.Body)),
				zap.Int("attempts", attempts), zap.Error(err))
			st.enqueue.Lock()
			err := h.q.Ack(sctx, ep.queue, it.ID)
			st.enqueue.Unlock()
			if err != nil {
				h.logger.Error("webhook: dropping an event from the queue failed", zap.String("url", redactURL(ep.url)), zap.Error(err))
			}
		} else {
			at := now.Add(h.backoff(attempts))
			if err := h.q.Retry(sctx, ep.queue, it.ID, attempts, at); err != nil && !errors.Is(err, guestlink.ErrQueueItemNotFound) {
				h.logger.Error("webhook: scheduling a retry failed", zap.String("url", redactURL(ep.url)), zap.Error(err))
			}
			if soonest.IsZero() || at.Before(soonest) {
				soonest = at
			}
		}
		h.mu.Lock()
		st.failures++
		failures := st.failures
		if failures >= 2 {
			// Look again when the pause ends: the rest of the batch is due.
			st.pausedUntil = now.Add(h.backoff(failures - 1))
			st.pending = true
		}
		pause := st.pausedUntil.Sub(now)
		h.mu.Unlock()
		if failures < 2 {
			if ce := h.logger.Check(zap.DebugLevel, "webhook: delivery failed, will retry"); ce != nil {
				ce.Write(zap.String("url", redactURL(ep.url)), zap.Int("attempts", attempts), zap.Error(err))
			}
			continue
		}
		h.logger.Warn("webhook: endpoint failing; pausing its deliveries",
			zap.String("url", redactURL(ep.url)), zap.Int("failures_in_a_row", failures),
			zap.Duration("retry_in", pause), zap.Error(err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(items) == webhookBatch {
		st.pending = true // there may be more
	}
	if !soonest.IsZero() && (st.nextDue.IsZero() || soonest.Before(st.nextDue)) {
		st.nextDue = soonest
	}
}

// deliver POSTs one queued event to ep and returns nil on a 2xx answer.
func (h *webhookHub) deliver(ctx context.Context, ep *webhookEndpoint, it guestlink.QueueItem) error {
	var meta struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(it.Body, &meta) // the body is always an Event made by publish
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(it.Body))
	if err != nil {
		return fmt.Errorf("making the request: %w", err)
	}
	ts := strconv.FormatInt(h.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "guestgate-webhook/1")
	req.Header.Set(HeaderWebhookTimestamp, ts)
	req.Header.Set(HeaderWebhookEvent, meta.Type)
	req.Header.Set(HeaderWebhookDelivery, meta.ID)
	req.Header.Set(HeaderWebhookSignature, signWebhook(ep.secret, ts, it.Body))
	resp, err := h.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// deliveryID is the event id in a queued body, for logs.
func deliveryID(body []byte) string {
	var meta struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &meta)
	return meta.ID
}

// logOrphanQueues notes queues left by webhooks no longer configured: their
// events stay in the store (bounded) until a webhook with that URL returns.
func (h *webhookHub) logOrphanQueues(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, webhookStoreTimeout)
	defer cancel()
	names, err := h.q.Queues(sctx)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		if strings.HasPrefix(name, "wh-") && h.endpoints[name] == nil {
			h.logger.Info("webhook: events are queued for a webhook that is not configured; they stay until it is again",
				zap.String("queue", name))
		}
	}
}

// Interface guards
var _ caddy.Destructor = (*webhookHub)(nil)
