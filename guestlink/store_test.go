package guestlink

import "testing"

// TestDueLimit protects the argument checks that every Queuer's Enqueue, Due
// and LeaseQueue share: a queue name outside ValidQueueName is refused with
// an error that names it, which store/badger and store/postgres return
// unchanged, and Due without a limit returns at most DefaultDueLimit items,
// as the Queuer interface promises.
func TestDueLimit(t *testing.T) {
	for _, tc := range []struct {
		queue   string
		limit   int
		want    int
		wantErr string
	}{
		{queue: "webhooks", limit: 0, want: DefaultDueLimit},
		{queue: "webhooks", limit: -1, want: DefaultDueLimit},
		{queue: "webhooks", limit: 5, want: 5},
		{queue: "a.b_c-D9", limit: 1000, want: 1000},
		{queue: "", limit: 5, wantErr: `guestgate store: invalid queue name ""`},
		{queue: "a b", limit: 5, wantErr: `guestgate store: invalid queue name "a b"`},
		{queue: "a/b", limit: 0, wantErr: `guestgate store: invalid queue name "a/b"`},
	} {
		got, err := DueLimit(tc.queue, tc.limit)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("DueLimit(%q, %d) = %d, %v; want error %q", tc.queue, tc.limit, got, err, tc.wantErr)
			}
			if cerr := CheckQueueName(tc.queue); cerr == nil || cerr.Error() != tc.wantErr {
				t.Errorf("CheckQueueName(%q) = %v; want %q", tc.queue, cerr, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("DueLimit(%q, %d) = %d, %v; want %d", tc.queue, tc.limit, got, err, tc.want)
		}
		if err := CheckQueueName(tc.queue); err != nil {
			t.Errorf("CheckQueueName(%q) = %v; want nil", tc.queue, err)
		}
	}
}
