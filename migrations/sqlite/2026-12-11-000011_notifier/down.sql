-- Only SMS jobs existed as their own kind before; email and push jobs stay `notify`.
UPDATE jobs
SET kind = 'notify_sms',
    payload_json = '{' || substr(payload_json, length('{"channel":"sms",') + 1)
WHERE kind = 'notify' AND payload_json LIKE '{"channel":"sms",%';
