-- guestgate's schema, version 3: the lobby message of a room
-- (guestlink.Room's LobbyMessage; "" for none), what a moderator tells the
-- guests waiting in its lobby.
ALTER TABLE gg_rooms ADD COLUMN lobby_message text NOT NULL DEFAULT '';
