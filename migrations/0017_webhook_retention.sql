-- Webhook retention (docs/decisions.md "Webhook retention"): delivered and failed deliveries older than
-- WEBHOOK_RETENTION_DAYS are deleted in small batches, then the events no delivery refers to any more.
--
-- An event is no longer deleted together with its deliveries (ON DELETE CASCADE): the retention pass
-- deletes an event only when it has no delivery left, and if a redelivery slipped a new pending delivery
-- in between the pass's check and its delete, the database now refuses the delete (RESTRICT) instead of
-- taking the pending delivery with it. Nothing else deletes events.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_id_fkey
  FOREIGN KEY (event_id) REFERENCES webhook_events(id) ON DELETE RESTRICT;

-- Row locks need UPDATE on some column: the pass locks the events it deletes (FOR UPDATE SKIP LOCKED) and a
-- redelivery holds its event (FOR KEY SHARE). Nothing updates an event; only this column is granted.
GRANT UPDATE (created_at) ON webhook_events TO authplane_app;

-- The finished deliveries, oldest first (the pass's scan), and the events by age.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE status <> 'pending';
CREATE INDEX webhook_events_created ON webhook_events (created_at);
