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
	"time"

	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
)

// The dispatcher: one goroutine per Hub while it has endpoints, starting a
// worker per queue with something due.

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
			h.releaseLeases()
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
// as down: the queue pauses, with one warning per pause. On a shared store
// it delivers only while it holds the queue's lease, and has the queue
// looked at again within pollEvery.
func (h *Hub) drain(ctx context.Context, ep *endpoint, st *queueState) {
	defer func() {
		h.mu.Lock()
		st.busy = false
		h.mu.Unlock()
	}()
	if !h.lease(ctx, ep, st, h.leaseTerm) {
		return
	}
	sctx, cancel := h.storeContext(ctx)
	items, next, err := h.q.Due(sctx, ep.queue, h.now(), batch)
	cancel()
	if err != nil {
		h.logger.Error("webhook: reading the queue failed", zap.String("url", ep.logURL), zap.Error(err))
		h.mu.Lock()
		st.pausedUntil, st.pending = h.now().Add(h.backoff(1)), true
		h.mu.Unlock()
		return
	}
	soonest := next
	if h.leaser != nil {
		soonest = earliest(soonest, h.now().Add(h.pollEvery))
	}
	for _, it := range items {
		if ctx.Err() != nil || !h.lease(ctx, ep, st, h.leaseTerm/2) {
			return
		}
		dctx, cancel := deliveryContext(ctx)
		err := h.deliver(dctx, ep, it)
		cancel()
		if err != nil && ctx.Err() != nil {
			// Stopping cut the delivery short: the item stays due, without
			// an attempt counted. A delivery the endpoint took before the
			// stop is acknowledged below, or the next holder would send it
			// again.
			return
		}
		now := h.now()
		if err == nil {
			if err := h.ack(ctx, ep, st, it.ID); err != nil {
				h.logger.Error("webhook: recording a delivery failed; the event may be delivered again",
					zap.String("url", ep.logURL), zap.String("queue_item", it.ID), zap.Error(err))
			}
			h.mu.Lock()
			recovered := st.failures >= 2
			st.failures = 0
			h.mu.Unlock()
			if recovered {
				h.logger.Info("webhook: endpoint answers again", zap.String("url", ep.logURL))
			}
			continue
		}
		attempts := it.Attempts + 1
		if attempts >= maxAttempts {
			h.logger.Error("webhook: giving up on an event",
				zap.String("url", ep.logURL), zap.String("delivery", deliveryID(it.Body)),
				zap.Int("attempts", attempts), zap.Error(err))
			if err := h.ack(ctx, ep, st, it.ID); err != nil {
				h.logger.Error("webhook: dropping an event from the queue failed", zap.String("url", ep.logURL), zap.Error(err))
			}
		} else {
			at := now.Add(h.backoff(attempts))
			sctx, cancel := h.storeContext(ctx)
			err := h.q.Retry(sctx, ep.queue, it.ID, attempts, at)
			cancel()
			if err != nil && !errors.Is(err, guestlink.ErrQueueItemNotFound) {
				h.logger.Error("webhook: scheduling a retry failed", zap.String("url", ep.logURL), zap.Error(err))
			}
			soonest = earliest(soonest, at)
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
				ce.Write(zap.String("url", ep.logURL), zap.Int("attempts", attempts), zap.Error(err))
			}
			continue
		}
		h.logger.Warn("webhook: endpoint failing; pausing its deliveries",
			zap.String("url", ep.logURL), zap.Int("failures_in_a_row", failures),
			zap.Duration("retry_in", pause), zap.Error(err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(items) == batch {
		st.pending = true // there may be more
	}
	if !soonest.IsZero() {
		st.nextDue = earliest(st.nextDue, soonest)
	}
}

// ack removes item id from ep's queue, delivered or given up, under the
// queue's enqueue lock.
func (h *Hub) ack(ctx context.Context, ep *endpoint, st *queueState, id string) error {
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	st.enqueue.Lock()
	defer st.enqueue.Unlock()
	return h.q.Ack(sctx, ep.queue, id)
}

// deliveryContext is the context of one delivery: a stop (the end of ctx)
// cuts it only after stopGrace. The timer a stop starts may fire after the
// delivery ended; cancelling then changes nothing.
func deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	return dctx, func() {
		stop()
		cancel()
	}
}

// storeContext is the context of one queue operation of a drain: it
// outlives a stop (ctx), so that a delivery that was made is recorded, and
// stopping waits for it; it ends after storeTimeout. Each operation has a
// timeout of its own: one for a whole batch ran out while slow deliveries
// were made (8 answers of 2 s), and the acknowledgements and retries after
// it failed, so that events were delivered again and the attempts of a
// hanging endpoint were never counted.
func (h *Hub) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.storeTimeout)
}

// earliest is the earlier of a and b, the zero time standing for none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// lease reports whether this Hub may deliver from ep's queue: always on a
// store of one process; on a shared store, while it holds the queue's lease,
// which it takes or renews when less than minLeft of it is left (before a
// batch: always, with minLeft leaseTerm). When the lease is another
// instance's, the queue is looked at again in pollEvery; when the store
// fails, after a pause.
func (h *Hub) lease(ctx context.Context, ep *endpoint, st *queueState, minLeft time.Duration) bool {
	if h.leaser == nil {
		return true
	}
	now := h.now()
	if st.leaseUntil.Sub(now) >= minLeft {
		return true
	}
	until := now.Add(h.leaseTerm)
	sctx, cancel := h.storeContext(ctx)
	ok, err := h.leaser.LeaseQueue(sctx, ep.queue, h.holder, until)
	cancel()
	held := !st.leaseUntil.IsZero()
	if err != nil || !ok {
		st.leaseUntil = time.Time{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil:
		// A store that cannot be reached says so in its own log; the queue
		// is looked at again after the pause.
		level := zap.ErrorLevel
		if errors.Is(err, guestlink.ErrStoreUnavailable) {
			level = zap.DebugLevel
		}
		if ce := h.logger.Check(level, "webhook: leasing the queue failed"); ce != nil {
			ce.Write(zap.String("url", ep.logURL), zap.Error(err))
		}
		st.pausedUntil, st.pending = h.now().Add(h.backoff(1)), true
		return false
	case !ok:
		if held {
			h.logger.Info("webhook: another instance delivers this endpoint's events now", zap.String("url", ep.logURL))
		}
		st.nextDue = earliest(st.nextDue, now.Add(h.pollEvery))
		return false
	}
	if !held {
		if ce := h.logger.Check(zap.DebugLevel, "webhook: this instance delivers the endpoint's events"); ce != nil {
			ce.Write(zap.String("url", ep.logURL))
		}
	}
	st.leaseUntil = until
	return true
}

// releaseLeases gives up the leases this Hub holds, when its dispatcher has
// stopped, so that another instance takes the queues over at once rather
// than when the leases run out.
func (h *Hub) releaseLeases() {
	if h.leaser == nil {
		return
	}
	h.mu.Lock()
	held := map[string]*queueState{}
	for name, st := range h.queues {
		if !st.leaseUntil.IsZero() {
			held[name] = st
		}
	}
	h.mu.Unlock()
	// Giving a lease up is a courtesy (one that is not given up runs out):
	// a store that cannot be reached must not hold up the stop for long.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, st := range held {
		if _, err := h.leaser.LeaseQueue(ctx, name, h.holder, h.now().Add(-time.Second)); err != nil {
			h.logger.Debug("webhook: giving up a queue's lease failed; another instance takes it over when it runs out",
				zap.String("queue", name), zap.Error(err))
		}
		st.leaseUntil = time.Time{}
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
	// Each attempt is signed anew: its timestamp is when it is sent, which
	// receivers hold within a few minutes of their clock.
	now := h.now()
	sig, err := ep.signers.sign(meta.ID, now, it.Body)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "guestgate-webhook/1")
	req.Header.Set(HeaderID, meta.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set(HeaderEvent, meta.Type)
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
	sctx, cancel := context.WithTimeout(ctx, h.storeTimeout)
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
