-- guestgate's schema, version 6: every instance learns of every new guest
-- within a poll, so that it can serve them from its live state when the
-- database cannot be reached, also when their first request reaches it
-- during the outage. txid is the transaction that stored the guest; each
-- instance reads the guests of the transactions its last read could not
-- see (at or after that snapshot's xmax, or in progress then), which is
-- exact whatever the order of the commits. A redemption does not go
-- through gg_changes: its generation row would order all redemptions.
ALTER TABLE gg_guests ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX gg_guests_txid ON gg_guests (txid);
