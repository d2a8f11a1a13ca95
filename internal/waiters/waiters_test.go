package waiters

import "testing"

// TestRegistry: a signal closes the channel of every waiter of the guests it
// names and of no other, waiters of one guest share an entry, and the
// registry holds nothing once every waiter left, signalled or not.
func TestRegistry(t *testing.T) {
	var w Registry
	a1, releaseA1 := w.Watch(Key("r", "a"))
	a2, releaseA2 := w.Watch(Key("r", "a"))
	b, releaseB := w.Watch(Key("r", "b"))
	c, releaseC := w.Watch(Key("s", "c"))
	if n := w.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3 (waiters of one guest share an entry)", n)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		name   string
		signal func()
		want   [4]bool // a1, a2, b, c closed
	}{
		{"nothing", func() {}, [4]bool{}},
		{"another guest", func() { w.Signal(Key("r", "x")) }, [4]bool{}},
		{"guest a", func() { w.Signal(Key("r", "a")) }, [4]bool{true, true, false, false}},
		{"room r", func() { w.SignalPrefix(Key("r", "")) }, [4]bool{true, true, true, false}},
	}
	for _, st := range steps {
		st.signal()
		for i, ch := range []<-chan struct{}{a1, a2, b, c} {
			if closed(ch) != st.want[i] {
				t.Errorf("%s: waiter %d closed %v, want %v", st.name, i, closed(ch), st.want[i])
			}
		}
	}
	for _, release := range []func(){releaseA1, releaseA2, releaseB} {
		release()
	}
	if n := w.Len(); n != 1 {
		t.Errorf("Len = %d, want 1 (only guest c is waited on)", n)
	}
	releaseC()
	if n := w.Len(); n != 0 {
		t.Errorf("Len = %d after every waiter left, want 0", n)
	}
	if closed(c) {
		t.Error("a waiter that left unsignalled had its channel closed")
	}
}
