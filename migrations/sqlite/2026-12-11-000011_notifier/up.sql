-- The Notifier runs every channel as one job kind, `notify`, its payload tagged by channel:
-- SMS jobs written before email and push were added join it.
UPDATE jobs
SET kind = 'notify',
    payload_json = '{"channel":"sms",' || substr(payload_json, 2)
WHERE kind = 'notify_sms' AND payload_json LIKE '{%';
