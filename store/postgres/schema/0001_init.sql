-- guestgate's schema, version 1. Open applies it in one transaction under an
-- advisory lock, so that of several instances starting against an empty
-- database exactly one does, and records it in gg_schema.
--
-- Every instant is a bigint of Unix nanoseconds (UTC), as precise as the
-- domain's time.Time, so that the rules compare what the domain compares
-- (a link expires at its ExpiresAt to the nanosecond). Ids and names that the
-- store sorts or pages by are COLLATE "C": byte order, whatever the
-- database's locale, as in the domain and the Badger store.

-- The versions applied, one row each.
CREATE TABLE gg_schema (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gg_rooms (
	id           text COLLATE "C" PRIMARY KEY,
	name         text NOT NULL,
	kind         text NOT NULL,
	available    boolean NOT NULL,
	admission    text NOT NULL,
	guest_access boolean NOT NULL DEFAULT false,
	-- link_count is the number of links of the room: a link is created only
	-- in the transaction of the UPDATE that raises it below max_links, and
	-- deleting a link lowers it, so that concurrent creations on any number
	-- of instances never exceed the cap.
	link_count   integer NOT NULL DEFAULT 0 CHECK (link_count >= 0),
	created_at   bigint NOT NULL,
	updated_at   bigint NOT NULL
);

CREATE TABLE gg_links (
	room_id    text COLLATE "C" NOT NULL REFERENCES gg_rooms (id) ON DELETE CASCADE,
	id         text COLLATE "C" NOT NULL,
	name       text NOT NULL,
	token      text NOT NULL,
	-- token_hash is the SHA-256 of the token: lookups go through its index,
	-- so that the index never holds a usable token.
	token_hash bytea NOT NULL UNIQUE,
	max_clicks integer CHECK (max_clicks >= 1), -- NULL: unlimited
	clicks     integer NOT NULL DEFAULT 0,
	created_at bigint NOT NULL,
	expires_at bigint, -- NULL: never
	PRIMARY KEY (room_id, id)
);

CREATE TABLE gg_guests (
	room_id     text COLLATE "C" NOT NULL REFERENCES gg_rooms (id) ON DELETE CASCADE,
	id          text COLLATE "C" NOT NULL,
	link_id     text COLLATE "C" NOT NULL,
	link_name   text NOT NULL,
	name        text NOT NULL,
	email       text NOT NULL,
	state       text NOT NULL,
	redeemed_at bigint NOT NULL,
	updated_at  bigint NOT NULL,
	last_seen   bigint NOT NULL,
	-- purge_at is when the record is deleted (retention): reads treat it as
	-- gone from then on, a sweep deletes it. NULL: kept.
	purge_at    bigint,
	PRIMARY KEY (room_id, id)
);
-- The live state holds guests by id (ids are random: one guest per id).
CREATE INDEX gg_guests_id ON gg_guests (id);
-- The guest list: newest first, then by id.
CREATE INDEX gg_guests_list ON gg_guests (room_id, redeemed_at DESC, id);
CREATE INDEX gg_guests_waiting ON gg_guests (room_id, redeemed_at) WHERE state = 'waiting';
CREATE INDEX gg_guests_purge ON gg_guests (purge_at) WHERE purge_at IS NOT NULL;

CREATE TABLE gg_secrets (
	name  text PRIMARY KEY,
	value bytea NOT NULL
);

-- Durable queues (webhook deliveries). gg_queues holds each queue's length:
-- every change of a queue's items locks its row first, so that the changes
-- of one queue are serialized across instances and the bound costs no count.
CREATE TABLE gg_queues (
	queue text COLLATE "C" PRIMARY KEY,
	len   integer NOT NULL CHECK (len >= 0)
);

CREATE TABLE gg_queue (
	queue    text COLLATE "C" NOT NULL REFERENCES gg_queues (queue),
	id       bigint GENERATED ALWAYS AS IDENTITY,
	body     bytea NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	next_at  bigint NOT NULL,
	PRIMARY KEY (queue, id)
);

-- The change log of what the gate decides on (rooms, links, guest states).
-- Every write that changes it raises gg_generation.gen by one, last in its
-- transaction (the row lock orders those writes, so gen follows commit
-- order), records what it changed under that number in gg_changes, and
-- notifies the channel gg_changes with the number; every instance reads the
-- log from the last number it applied. Redemptions and lobby visits do not
-- go through it: a new guest is read on its first check.
CREATE TABLE gg_generation (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	gen bigint NOT NULL
);
INSERT INTO gg_generation (gen) VALUES (0);

CREATE TABLE gg_changes (
	gen     bigint NOT NULL,
	-- kind: room (its record changed), room-deleted, link (added or
	-- deleted), guest (its state changed), reset (read everything again).
	kind    text NOT NULL,
	room_id text COLLATE "C" NOT NULL DEFAULT '',
	item_id text COLLATE "C" NOT NULL DEFAULT '',
	at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gg_changes_gen ON gg_changes (gen);
