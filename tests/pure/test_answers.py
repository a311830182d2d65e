# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Attendees' answers (services.answers) and who may change a logged meeting
(services.inbound.may_change_shared)."""

from services import answers, inbound


def _attendee(address, response):
    return {"emailAddress": {"address": address}, "status": {"response": response}}


def test_outlook_states_read_only_real_answers():
    event = {
        "attendees": [
            _attendee("Bob@Example.com", "accepted"),
            _attendee("carol@example.com", "tentativelyAccepted"),
            _attendee("dan@client.com", "declined"),
            _attendee("eve@client.com", "none"),
            _attendee("zed@client.com", "notResponded"),
            "garbage",
            {"emailAddress": {}, "status": {"response": "accepted"}},
        ]
    }
    assert answers.outlook_states(event) == {
        "bob@example.com": "accepted",
        "carol@example.com": "tentative",
        "dan@client.com": "declined",
    }
    assert answers.outlook_states({}) == {}


def test_odoo_answers_map_to_graph_actions_and_copies():
    assert answers.GRAPH_ACTION == {
        "accepted": "accept",
        "declined": "decline",
        "tentative": "tentativelyAccept",
    }
    own = {"id": "copy", "isOrganizer": False, "responseStatus": {"response": "accepted"}}
    organized = {"id": "mine", "isOrganizer": True}
    assert answers.pick_copy([organized, own]) is own
    assert answers.pick_copy([organized]) is None
    assert answers.already_answered(own, "accept")
    assert not answers.already_answered(own, "tentativelyAccept")
    tentative = {"responseStatus": {"response": "tentativelyAccepted"}}
    assert answers.already_answered(tentative, "tentativelyAccept")


def test_only_the_organizer_copy_or_its_stand_in_changes_a_meeting():
    # the organizer's copy always may
    assert inbound.may_change_shared(True, organizer_syncs=False, is_lead_copy=False)
    # another attendee's copy never may while the organizer syncs
    assert not inbound.may_change_shared(False, organizer_syncs=True, is_lead_copy=True)
    # a contact organized it: the mailbox that logged it first stands in, no other one
    assert inbound.may_change_shared(False, organizer_syncs=False, is_lead_copy=True)
    assert not inbound.may_change_shared(False, organizer_syncs=False, is_lead_copy=False)
