"""inspectorctl probe: gather the host facts the selected rules asked for, as one JSON document.

Runs on the *target* host with nothing but the standard library of python3 3.6 or newer, so
the probe avoids everything newer (no ``from __future__ import annotations``, no dataclasses, no
walrus, no ``subprocess.run(capture_output=...)``, no builtin generics in annotations).

Two ways to run it
------------------
* Standalone: ``python3 probe.py [--root DIR] < request.json`` prints one JSON object that
  validates as ``inspectorctl.models.snapshot.HostSnapshot`` (its ``host`` block carries the
  host's own view, ``name`` = hostname; the transport overwrites ``name``/``transport``/ids).
  ``LocalCollector`` and the SSM document run it this way.

* As an Ansible module. The shipped file is written into ``library/inspectorctl_probe.py`` of the
  runner's private data dir. It contains Ansible's *JSON-args* marker (see ``_ANSIBLE_ARGS``), so
  Ansible classifies it as a "new"-style ``jsonargs`` module: the controller substitutes the task
  arguments (JSON) for the marker and, with ``ANSIBLE_PIPELINING=True``, pipes the source into
  the remote interpreter's stdin: one SSH exec, no AnsiballZ zip, no ``ansible.module_utils`` on
  the target, no temp file. The shebang ``#!/usr/bin/python`` lets Ansible apply
  ``ansible_python_interpreter`` (or discovery). The module takes ``request_b64`` (the
  ``ProbeRequest`` as base64 JSON: base64 keeps regex patterns away from Jinja templating) and
  returns ``{"changed": false, "snapshot": {...}}``. The transport reads that ``snapshot`` key from
  the ``runner_on_ok`` event's ``res`` as data. We deliberately do not return ``ansible_facts``:
  facts would be injected into hostvars (and, with a fact cache, written to disk) for nothing; the
  event stream already carries the module result, so no fact-cache plugin has to be configured.

Rules of the house
------------------
* Only requested facts are gathered. A requested fact that cannot be read is left out and listed
  in ``unknown`` with the reason; partial failures go into the per-item ``error``/``errors`` fields.
  Nothing is guessed.
* Never read out or emit password hashes or key material: accounts carry ``password`` as
  ``empty``/``locked``/``set`` only; line matching is refused on shadow-like files and any matched
  line that looks like a hash or a private key is withheld.
* No network, with one gated exception: the EC2 instance metadata service, only when the probe runs
  against the real root and DMI names the machine "Amazon EC2" (and ``INSPECTORCTL_PROBE_NO_IMDS``
  is unset). cloud-init's cached instance data is preferred for the instance id.
* Filesystem walks are bounded: one ``os.scandir`` pass for all requested kinds, local filesystems
  only, symlinks never followed, stopping at ``walk_max_results`` matches per kind or after
  ``walk_max_seconds`` (``truncated: true`` with the reason).
* Pending updates: apt simulates an upgrade from the host's security sources only when it can
  tell which they are and their lists were downloaded (``updates.scope`` = ``security``; a
  fraction of the full simulation's time), else from every source (``all``).
* ``root`` (``--root``; module arg ``root``) prefixes every file the probe reads, including
  ``/proc`` and ``/sys``, so the gatherers can be tested against a fake tree. The EC2 metadata
  service is never contacted with a root other than ``/``.

The parsers are pure functions (``parse_*``) so they can be tested without a host.

Where things are (in the source package ``inspectorctl/probe/``; the transports ship the one file
``inspectorctl.probe.bundle`` builds from it): ``context`` (what gatherers share), ``parsers``
(shared parsers), one module per fact family (``accounts``, ``sshd``, ``packages``, ``services``,
``sysctl``, ``mounts``, ``files``, ``walk``, ``pam``, ``limits``, ``rsyslog``, ``systemd_conf``,
``updates``, ``sockets``, ``kernel_modules``, ``osinfo``, ``cloud``), each declaring its ``Fact``;
``run`` (the table of facts and the driver) and ``__main__`` (entry points). A new fact: a module
with its parser(s), its gatherer and its ``Fact``, one line in ``run.FACT_TABLE``, and its model
in ``inspectorctl/models/snapshot.py``.
"""
