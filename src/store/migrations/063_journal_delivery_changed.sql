-- The journal's delivery state (050_journal.sql) is written only when it changes. A message with four Tasks had its
-- journal row rewritten at each Task's status change, three times to the same 'pending'; each rewrite is a new row
-- version with an entry in every journal index (the delivery column is indexed, so no update is HOT).
CREATE OR REPLACE FUNCTION journal_record_delivery() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status NOT IN ('unroutable', 'held') THEN RETURN NEW; END IF;
  ELSIF NEW.last_attempt_at IS NOT DISTINCT FROM OLD.last_attempt_at AND NEW.status = OLD.status THEN
    RETURN NEW;
  END IF;
  INSERT INTO journal_delivery_attempt (outbox_id, message_id, task_identifier, site_id, action, at, status, result,
                                        attempts, error)
  VALUES (NEW.id, NEW.message_id, NEW.task_identifier, NEW.site_id, NEW.action, COALESCE(NEW.last_attempt_at, now()),
          NEW.status, NEW.result, NEW.attempts, NEW.last_error);
  IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
    UPDATE journal_message j SET delivery = d.state
      FROM (SELECT CASE WHEN bool_or(o.status IN ('dead', 'unroutable')) THEN 'failed'
                        WHEN bool_and(o.status = 'delivered') THEN 'delivered' ELSE 'pending' END AS state
              FROM delivery_outbox o WHERE o.message_id = NEW.message_id) d
     WHERE j.message_id = NEW.message_id AND j.delivery IS DISTINCT FROM d.state;
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
