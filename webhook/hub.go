package webhook

import (
	"bytes"
	"context"
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

	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
)

// Delivery settings.
const (
	// deliveryTimeout bounds one delivery: connecting, sending and the answer.
	deliveryTimeout = 10 * time.Second
	// maxAttempts is how many failed deliveries of one event are made before
	// it is dropped with an error log.
	maxAttempts = 20
	// firstBackoff and maxBackoff shape the pause before a retry: 1 s, 2 s,
	// 4 s ... doubling up to 10 min, each within +-25 % (jitter).
	firstBackoff = time.Second
	maxBackoff   = 10 * time.Minute
	// batch is how many due events the dispatcher reads from one queue at a
	// time; it holds no more than that per endpoint in memory.
	batch = 8
	// workers is the most deliveries in flight per Hub, one per endpoint at a
	// time.
	workers = 4
	// dropLogEvery rate-limits the warning about events dropped from a full
	// queue.
	dropLogEvery = time.Minute
	// storeTimeout bounds one queue operation.
	storeTimeout = 10 * time.Second
)

// endpoint is an Endpoint as registered: its queue named, its filter made.
type endpoint struct {
	url    string
	queue  string
	secret []byte
	// events is the filter; nil means every type.
	events map[string]bool
	// emails keeps guest_name and guest_email in the body.
	emails bool
}

func (ep *endpoint) wants(typ string) bool { return ep.events == nil || ep.events[typ] }

func newEndpoint(e Endpoint) *endpoint {
	ep := &endpoint{url: e.URL, queue: queueName(e.URL), secret: e.Secret, emails: e.Emails}
	if len(e.Events) > 0 {
		ep.events = map[string]bool{}
		for _, t := range e.Events {
			ep.events[t] = true
		}
	}
	return ep
}

// Hub routes the events of one store to the endpoints registered with it,
// whichever Service on the store emitted them: Publish, the Services' event
// hook, only enqueues, durably, one item per endpoint whose filter matches; a
// dispatcher goroutine, running while there is an endpoint, delivers from the
// queues.
//
// The endpoints are the union of the registrations, by URL; while two
// registrations overlap (a config reload), the newer one's settings win for a
// URL both have. Close stops the dispatcher for good; undelivered events stay
// queued in the store until a Hub delivers them.
type Hub struct {
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
	// regs are the registrations, oldest first; endpoints is their union by
	// queue name.
	regs      []*Registration
	endpoints map[string]*endpoint
	// queues holds the delivery state of every queue seen, by name.
	queues map[string]*queueState
	// cancel stops the running dispatcher (nil when none runs); done is closed
	// when the last dispatcher started has stopped.
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// Registration is the endpoints one user of a Hub (a guest_admin handler)
// registered, until it gives them back with Unregister.
type Registration struct{ endpoints []*endpoint }

// queueState is the delivery state of one endpoint's queue.
type queueState struct {
	// enqueue serializes the changes of the queue's length made in this
	// process (Enqueue, Ack), which would otherwise conflict and be retried.
	enqueue sync.Mutex

	// The rest is guarded by Hub.mu.

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

// NewHub returns a Hub that queues in q, the store's queues, and logs to
// logger. q may be nil, for a store that keeps no queues: such a Hub refuses
// every registration with endpoints.
func NewHub(q guestlink.Queuer, logger *zap.Logger) *Hub {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	return &Hub{
		q:      q,
		logger: logger,
		client: &http.Client{
			Transport: tr,
			Timeout:   deliveryTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now:         time.Now,
		maxLen:      guestlink.DefaultQueueLen,
		backoffBase: firstBackoff,
		backoffMax:  maxBackoff,
		wake:        make(chan struct{}, 1),
		endpoints:   map[string]*endpoint{},
		queues:      map[string]*queueState{},
	}
}

// Register adds endpoints, and starts the dispatcher if it is not running.
// Unregister(r) takes them away again; every Registration returned must be
// given back so, also one without endpoints.
func (h *Hub) Register(endpoints []Endpoint) (*Registration, error) {
	r := &Registration{}
	for _, e := range endpoints {
		if err := e.check(); err != nil {
			return nil, err
		}
		r.endpoints = append(r.endpoints, newEndpoint(e))
	}
	if err := h.register(r); err != nil {
		return nil, err
	}
	return r, nil
}

func (h *Hub) register(r *Registration) error {
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
func (h *Hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Unregister takes away the endpoints of r; when none is left, it stops the
// dispatcher, waiting for the deliveries in flight to be cancelled (an event
// whose delivery is cancelled stays due, without an attempt counted).
func (h *Hub) Unregister(r *Registration) {
	h.mu.Lock()
	h.regs = slices.DeleteFunc(h.regs, func(x *Registration) bool { return x == r })
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
func (h *Hub) updateLocked() {
	h.endpoints = map[string]*endpoint{}
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

// Close stops the dispatcher for good, when the last user of the Hub is gone;
// undelivered events stay queued in the store. It always returns nil.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	h.regs, h.endpoints = nil, map[string]*endpoint{}
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

// Publish is the event hook of the Services on the store: it enqueues e for
// every endpoint that wants it (one small write each) and wakes the
// dispatcher. It never delivers, so it never waits for an endpoint.
func (h *Hub) Publish(e guestlink.Event) {
	h.mu.Lock()
	var eps []*endpoint
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
		body, err := eventBody(e, ep.emails, &full, &lean)
		if err == nil {
			err = h.enqueue(ep, body)
		}
		if err != nil {
			h.logger.Error("webhook: queueing an event failed; it will not be delivered to this endpoint",
				zap.String("url", RedactURL(ep.url)), zap.String("event_id", e.ID), zap.String("event", e.Type), zap.Error(err))
			continue
		}
		queued = true
	}
	if queued {
		h.signal()
	}
}

// eventBody is the JSON body of e: the Event, without the guest's name and
// email unless emails. full and lean cache the two forms.
func eventBody(e guestlink.Event, emails bool, full, lean *[]byte) ([]byte, error) {
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
// dropLogEvery.
func (h *Hub) enqueue(ep *endpoint, body []byte) error {
	h.mu.Lock()
	st := h.queues[ep.queue]
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
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
		if now := h.now(); now.Sub(st.droppedLogged) >= dropLogEvery {
			h.logger.Warn("webhook: queue full, dropped the oldest undelivered events",
				zap.String("url", RedactURL(ep.url)), zap.Int("dropped", st.dropped), zap.Int("queue_limit", h.maxLen))
			st.dropped, st.droppedLogged = 0, now
		}
	}
	return nil
}

// backoff is the pause after the n-th failure in a row (n >= 1): base, doubling,
// capped at max, within +-25 %.
func (h *Hub) backoff(n int) time.Duration {
	d := h.backoffMax
	if n < 32 {
		d = min(h.backoffBase<<(n-1), h.backoffMax)
	}
	return d*3/4 + rand.N(d/2+1)
}

// run is the dispatcher: it waits for an enqueue, a finished worker or the
// next due time, then starts a worker for each queue with something due, at
// most workers at once. It returns when ctx ends, after its workers.
// It starts only after the dispatcher before it (prev) has stopped.
func (h *Hub) run(ctx context.Context, prev <-chan struct{}, done chan<- struct{}) {
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
// workers run; it returns when to look again (zero: on the next wake).
func (h *Hub) startWorkers(ctx context.Context, results chan<- struct{}, inFlight *int) time.Time {
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
		case *inFlight >= workers:
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
// maxAttempts. After the second failure in a row the endpoint counts
// as down: the queue pauses, with one warning per pause.
func (h *Hub) drain(ctx context.Context, ep *endpoint, st *queueState) {
	// The store operations outlive a stop, so that a delivery that was made is
	// recorded; stopping waits for them.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	defer func() {
		h.mu.Lock()
		st.busy = false
		h.mu.Unlock()
	}()
	items, next, err := h.q.Due(sctx, ep.queue, h.now(), batch)
	if err != nil {
		h.logger.Error("webhook: reading the queue failed", zap.String("url", RedactURL(ep.url)), zap.Error(err))
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
					zap.String("url", RedactURL(ep.url)), zap.String("queue_item", it.ID), zap.Error(err))
			}
			h.mu.Lock()
			recovered := st.failures >= 2
			st.failures = 0
			h.mu.Unlock()
			if recovered {
				h.logger.Info("webhook: endpoint answers again", zap.String("url", RedactURL(ep.url)))
			}
			continue
		}
		attempts := it.Attempts + 1
		if attempts >= maxAttempts {
			h.logger.Error("webhook: giving up on an event",
				zap.String("url", RedactURL(ep.url)), zap.String("delivery", deliveryID(it.Body)),
				zap.Int("attempts", attempts), zap.Error(err))
			st.enqueue.Lock()
			err := h.q.Ack(sctx, ep.queue, it.ID)
			st.enqueue.Unlock()
			if err != nil {
				h.logger.Error("webhook: dropping an event from the queue failed", zap.String("url", RedactURL(ep.url)), zap.Error(err))
			}
		} else {
			at := now.Add(h.backoff(attempts))
			if err := h.q.Retry(sctx, ep.queue, it.ID, attempts, at); err != nil && !errors.Is(err, guestlink.ErrQueueItemNotFound) {
				h.logger.Error("webhook: scheduling a retry failed", zap.String("url", RedactURL(ep.url)), zap.Error(err))
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
				ce.Write(zap.String("url", RedactURL(ep.url)), zap.Int("attempts", attempts), zap.Error(err))
			}
			continue
		}
		h.logger.Warn("webhook: endpoint failing; pausing its deliveries",
			zap.String("url", RedactURL(ep.url)), zap.Int("failures_in_a_row", failures),
			zap.Duration("retry_in", pause), zap.Error(err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(items) == batch {
		st.pending = true // there may be more
	}
	if !soonest.IsZero() && (st.nextDue.IsZero() || soonest.Before(st.nextDue)) {
		st.nextDue = soonest
	}
}

// deliver POSTs one queued event to ep and returns nil on a 2xx answer.
func (h *Hub) deliver(ctx context.Context, ep *endpoint, it guestlink.QueueItem) error {
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
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderEvent, meta.Type)
	req.Header.Set(HeaderDelivery, meta.ID)
	req.Header.Set(HeaderSignature, Sign(ep.secret, ts, it.Body))
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
func (h *Hub) logOrphanQueues(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
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
