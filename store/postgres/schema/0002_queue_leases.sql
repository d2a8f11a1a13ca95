-- guestgate's schema, version 2: the leases of the durable queues.
--
-- A queue's lease names the one instance that delivers its items
-- (guestlink.QueueLeaser): an instance takes it when no other's runs, renews
-- it while it delivers, and loses it when it stops renewing. Its end is on
-- the database's clock, so that instances whose clocks disagree agree on
-- whose lease runs. A queue needs no row in gg_queues to be leased: a lease
-- may be taken before the first item is enqueued.
CREATE TABLE gg_queue_leases (
	queue  text COLLATE "C" PRIMARY KEY,
	holder text NOT NULL,
	until  timestamptz NOT NULL
);
