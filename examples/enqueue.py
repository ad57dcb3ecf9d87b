#!/usr/bin/env python3
"""Publish one fluxq job through AMQP, the way docs/contract.md says (pika).

    pip install pika
    FLUXQ_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f FLUXQ_NAMESPACE=fluxq \
        python3 examples/enqueue.py "studio photo of a red mug" [--lane interactive] [--batch NAME]

Prints the job id once RabbitMQ has confirmed the message. The exchange must exist
(any fluxq binary declares it at start); publishing is `mandatory`, so a message no
lane queue takes is an error, not a silent drop.
"""
import argparse
import json
import os
import sys
import uuid

import pika


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prompt")
    p.add_argument("--lane", choices=["bulk", "interactive"], default="bulk")
    p.add_argument("--batch")
    p.add_argument("--model", default="flux-2-pro")
    args = p.parse_args()

    url = os.environ.get("FLUXQ_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    ns = os.environ.get("FLUXQ_NAMESPACE", "fluxq")
    job = {
        "id": str(uuid.uuid4()),  # the idempotency key: publish again with the same id
        "model": args.model,
        "prompt": args.prompt,
        "width": 1024,
        "height": 1024,
    }
    if args.batch:
        job["batch"] = args.batch

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()  # publisher confirms: basic_publish raises unless confirmed
        ch.basic_publish(
            exchange=f"{ns}.jobs",
            routing_key=args.lane,
            body=json.dumps(job).encode(),
            properties=pika.BasicProperties(
                delivery_mode=2,  # persistent
                content_type="application/json",
                message_id=job["id"],
            ),
            mandatory=True,
        )
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as e:
        print(f"not confirmed: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(job["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
