-- guestgate's schema, version 5: invitations, the personal links of
-- docs/DESIGN.md section 8. An invitation lets in whoever types its email,
-- with its role ('viewer', 'speaker' or 'moderator'), at most max_uses times
-- (NULL: unlimited); it always expires, and may open only at not_before
-- (NULL: open from its creation). Its token is looked up by its SHA-256, as
-- a link's. A guest who came in by an invitation has its id as link_id.
CREATE TABLE gg_invitations (
	room_id    text COLLATE "C" NOT NULL REFERENCES gg_rooms (id) ON DELETE CASCADE,
	id         text COLLATE "C" NOT NULL,
	token      text NOT NULL,
	token_hash bytea NOT NULL UNIQUE,
	email      text NOT NULL,
	name       text NOT NULL,
	role       text NOT NULL,
	max_uses   integer CHECK (max_uses >= 1), -- NULL: unlimited
	uses       integer NOT NULL DEFAULT 0,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL,
	not_before bigint,
	PRIMARY KEY (room_id, id)
);

-- invitation_count is the number of invitations of the room, as link_count
-- is its links': an invitation is created only in the transaction of the
-- UPDATE that raises it below max_invitations, and deleting one lowers it.
ALTER TABLE gg_rooms ADD COLUMN invitation_count integer NOT NULL DEFAULT 0 CHECK (invitation_count >= 0);

-- Adding or deleting an invitation is recorded in gg_changes with the kind
-- 'invitation' (room_id, item_id the invitation's id): the live state holds
-- invitations as it holds links.
