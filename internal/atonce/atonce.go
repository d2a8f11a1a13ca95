// Package atonce runs calls that a test wants to race: each in a goroutine of
// its own, all released together, as many clients arriving at the same
// moment would.
package atonce

import "sync"

// Run calls f(0), ..., f(n-1), each from its own goroutine, released together
// once every goroutine is launched, and returns their results by i.
func Run[T any](n int, f func(i int) T) []T {
	results := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return results
}
