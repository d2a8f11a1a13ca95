package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
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
	// stopGrace is how long a stop lets a delivery under way finish: an
	// endpoint that took the event and is answering gets its answer through,
	// and the delivery is acknowledged rather than sent again by the
	// instance that takes the queue over. A delivery still under way then
	// (a hanging endpoint) is cut, uncounted.
	stopGrace = 500 * time.Millisecond
	// leaseTerm is how long a Hub on a shared store (guestlink.QueueLeaser)
	// takes a queue's lease for. It renews the lease before every batch, and
	// before a delivery when less than half of it is left, more than a
	// delivery may take (deliveryTimeout): its lease does not run out while
	// it delivers. When the instance that holds a lease dies, another takes
	// the queue over within leaseTerm.
	leaseTerm = 30 * time.Second
	// pollInterval is how often a Hub on a shared store looks at each queue
	// when nothing in its own process woke it: the events that other
	// instances enqueue wake only their own Hub, so an event enqueued by an
	// instance that does not hold its queue's lease waits up to that long
	// (about a second more than on one instance) before the holder delivers
	// it. A Hub that does not hold a lease asks for it as often.
	pollInterval = time.Second
)

// endpoint is an Endpoint as registered: its queue named, its filter made.
type endpoint struct {
	url   string
	queue string
	// logURL is LogURL(url), how the delivery logs name it.
	logURL string
	// signers sign each delivery, one signature per secret.
	signers signers
	// events is the filter; nil means every type.
	events map[string]bool
	// emails keeps guest_name and guest_email in the body.
	emails bool
}

func (ep *endpoint) wants(typ string) bool { return ep.events == nil || ep.events[typ] }

// newEndpoint is e as registered, ss the signers of its secrets.
func newEndpoint(e Endpoint, ss signers) *endpoint {
	ep := &endpoint{url: e.URL, queue: queueName(e.URL), logURL: LogURL(e.URL), signers: ss, emails: e.Emails}
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
//
// On a store that several instances share (the Queuer is a
// guestlink.QueueLeaser), every instance's Hub enqueues, and one delivers
// each queue: the one holding its lease, which it takes and renews with a
// random holder id of its own, gives up when it stops, and loses when it
// stops renewing (see leaseTerm). Such a Hub looks at every queue about once
// a second (pollInterval), for the events other instances enqueued and for
// the lease of a queue another instance holds. So each event is delivered by
// one instance, in order, in normal operation, and at least once when an
// instance dies in the middle of a delivery: receivers deduplicate by the
// delivery id.
type Hub struct {
	q      guestlink.Queuer
	logger *zap.Logger
	client *http.Client
	now    func() time.Time
	// maxLen bounds each queue (guestlink.DefaultQueueLen); backoffBase and
	// backoffMax shape retries (tests shorten them).
	maxLen                  int
	backoffBase, backoffMax time.Duration
	// storeTimeout bounds each queue operation (the storeTimeout constant;
	// tests shorten it).
	storeTimeout time.Duration

	// leaser is q as a guestlink.QueueLeaser, nil for a store of one process,
	// whose queues need no lease; holder is this Hub's name in the leases.
	// leaseTerm and pollEvery are leaseTerm and pollInterval (tests shorten
	// them).
	leaser               guestlink.QueueLeaser
	holder               string
	leaseTerm, pollEvery time.Duration

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

	// leaseUntil is the end of this Hub's lease of the queue, as it asked for
	// it; zero when it holds none. It belongs to the queue's worker (one at a
	// time), and to the dispatcher once its workers are done.
	leaseUntil time.Time
}

// NewHub returns a Hub that queues in q, the store's queues, and logs to
// logger. q may be nil, for a store that keeps no queues: such a Hub refuses
// every registration with endpoints. When q is a guestlink.QueueLeaser, the
// Hub delivers a queue only while it holds its lease.
func NewHub(q guestlink.Queuer, logger *zap.Logger) *Hub {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	leaser, _ := q.(guestlink.QueueLeaser)
	return &Hub{
		q:         q,
		leaser:    leaser,
		holder:    holderName(),
		leaseTerm: leaseTerm,
		pollEvery: pollInterval,
		logger:    logger,
		client: &http.Client{
			Transport: tr,
			Timeout:   deliveryTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now:          time.Now,
		maxLen:       guestlink.DefaultQueueLen,
		backoffBase:  firstBackoff,
		backoffMax:   maxBackoff,
		storeTimeout: storeTimeout,
		wake:         make(chan struct{}, 1),
		endpoints:    map[string]*endpoint{},
		queues:       map[string]*queueState{},
	}
}

// holderName is a Hub's name in the leases it holds: the host it runs on, for
// an operator who looks at the leases, and a random id.
func holderName() string {
	host, _ := os.Hostname()
	return host + "/" + guestlink.NewID("hub")
}

// Register adds endpoints, and starts the dispatcher if it is not running.
// Unregister(r) takes them away again; every Registration returned must be
// given back so, also one without endpoints.
func (h *Hub) Register(endpoints []Endpoint) (*Registration, error) {
	r := &Registration{}
	for _, e := range endpoints {
		ss, err := e.signers()
		if err != nil {
			return nil, err
		}
		r.endpoints = append(r.endpoints, newEndpoint(e, ss))
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
				zap.String("url", ep.logURL), zap.String("event_id", e.ID), zap.String("event", e.Type), zap.Error(err))
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
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
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
				zap.String("url", ep.logURL), zap.Int("dropped", st.dropped), zap.Int("queue_limit", h.maxLen))
			st.dropped, st.droppedLogged = 0, now
		}
	}
	return nil
}
