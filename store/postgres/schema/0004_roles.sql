-- guestgate's schema, version 4: roles and opening times (docs/DESIGN.md
-- section 7). A link gives its guests a role ('viewer' or 'speaker') and may
-- open only at not_before (Unix nanoseconds; NULL: open from its creation);
-- a guest keeps the role it came in with. Rows from before are viewers.
ALTER TABLE gg_links ADD COLUMN role text NOT NULL DEFAULT 'viewer';
ALTER TABLE gg_links ADD COLUMN not_before bigint;
ALTER TABLE gg_guests ADD COLUMN role text NOT NULL DEFAULT 'viewer';
