package badger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// BenchmarkSession is the gate's live-state read (docs/DESIGN.md section 2, step 3)
// of one admitted guest: one read-only transaction over the room, the link and the
// guest.
func BenchmarkSession(b *testing.B) {
	s, _ := openStore(b)
	now := time.Now().UTC()
	putRoom(b, s, "r", guestlink.RoomSpec{})
	l := addLink(b, s, "r", guestlink.LinkSpec{}, now)
	g := redeem(b, s, l.Token, now)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Session(ctx, "r", l.ID, g.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionManyGuests is BenchmarkSession over 10,000 guests in 1,000
// rooms, read in turn, so that reads do not all hit the same cached block.
func BenchmarkSessionManyGuests(b *testing.B) {
	s, _ := openStore(b)
	now := time.Now().UTC()
	ctx := context.Background()
	type who struct{ room, link, guest string }
	var all []who
	for r := range 1000 {
		id := fmt.Sprintf("room-%04d", r)
		putRoom(b, s, id, guestlink.RoomSpec{})
		l := addLink(b, s, id, guestlink.LinkSpec{}, now)
		for range 10 {
			g := redeem(b, s, l.Token, now)
			all = append(all, who{id, l.ID, g.ID})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := all[i%len(all)]
		i += 7919 // a prime: visits every guest, out of key order
		if _, _, err := s.Session(ctx, w.room, w.link, w.guest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeemSpread redeems 300 unlimited links of 100 rooms from many
// goroutines (GOMAXPROCS x 32), each redemption on the next link in turn: a
// burst spread over many links, with SyncWrites on as in production. ns/op is
// the wall time per redemption of the whole burst.
func BenchmarkRedeemSpread(b *testing.B) {
	s, _ := openStore(b)
	now := time.Now().UTC()
	var tokens []string
	for r := range 100 {
		id := fmt.Sprintf("room-%03d", r)
		putRoom(b, s, id, guestlink.RoomSpec{})
		for range 3 {
			tokens = append(tokens, addLink(b, s, id, guestlink.LinkSpec{}, now).Token)
		}
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok := tokens[int(next.Add(1))%len(tokens)]
			if _, _, _, err := s.Redeem(ctx, tok, newGuest("Bench"), now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(s.retries.Load()), "retries")
}
