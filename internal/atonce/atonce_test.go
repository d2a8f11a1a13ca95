package atonce

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRun protects what the racing tests rely on: every call runs at the
// same time as the others (each here waits until all have begun, which
// calls made one after another never reach), and each result stands at the
// index of its call.
func TestRun(t *testing.T) {
	const n = 16
	var begun sync.WaitGroup
	begun.Add(n)
	all := make(chan struct{})
	go func() { begun.Wait(); close(all) }()
	// Not a measure of speed: the bound only turns a hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := Run(n, func(i int) int {
		begun.Done()
		select {
		case <-all:
		case <-ctx.Done():
			return -1
		}
		return i * i
	})
	want := make([]int, n)
	for i := range want {
		want[i] = i * i
	}
	if !slices.Equal(got, want) {
		t.Errorf("Run = %v, want %v (-1: a call never saw the others begin)", got, want)
	}
}
