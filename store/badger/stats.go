package badger

import (
	"context"
	"encoding/json"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// Stats counts rooms and links from their keys alone, and waiting guests from
// the guest records, in one read-only transaction. Its cost grows with the
// number of guest records (kept for retention), so callers such as a metrics
// scrape should not call it more than every few seconds.
func (s *Store) Stats(ctx context.Context) (guestlink.Stats, error) {
	var st guestlink.Stats
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		st = guestlink.Stats{}
		st.Rooms = countKeysIn(txn, []byte(prefixRoom))
		st.Links = countKeysIn(txn, []byte(prefixLink))
		opts := badgerdb.DefaultIteratorOptions
		opts.Prefix = []byte(prefixGuest)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var g struct {
				State string `json:"state"`
			}
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &g) }); err != nil {
				return err
			}
			if g.State == guestlink.StateWaiting {
				st.GuestsWaiting++
			}
		}
		return nil
	})
	return st, err
}

func countKeysIn(txn *badgerdb.Txn, prefix []byte) int {
	opts := badgerdb.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = prefix, false
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n
}
