"""Reply gate: hostile documents are refused before any XML library could expand them."""

from __future__ import annotations

import pytest
import zeep.exceptions
from onvif.transport import ASYNC_TRANSPORT
from zeep.loader import parse_xml

from camfleet.onvif.transport import ReplyRejected, check_reply_document, hardened_settings
from camfleet.sim import hostile
from camfleet.sim.soap import envelope


def test_a_normal_reply_passes() -> None:
    check_reply_document(envelope("<tds:GetNTPResponse/>").encode())


@pytest.mark.parametrize(
    "reply",
    [hostile.xxe_reply(), hostile.entity_bomb_reply()],
    ids=["external-entity", "billion-laughs"],
)
def test_document_type_declarations_are_refused(reply: str) -> None:
    with pytest.raises(ReplyRejected, match="document type declaration"):
        check_reply_document(reply.encode())


def test_truncated_xml_is_refused_not_recovered() -> None:
    with pytest.raises(ReplyRejected, match="not well-formed"):
        check_reply_document(hostile.malformed_reply().encode())


def test_utf16_doctype_is_caught_by_the_parser_check() -> None:
    # The byte search cannot see a UTF-16 DOCTYPE; the parsed document's docinfo still does.
    reply = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16")
    with pytest.raises(ReplyRejected, match="document type declaration"):
        check_reply_document(reply)


@pytest.mark.parametrize(
    ("reply", "refusal"),
    [(hostile.xxe_reply(), zeep.exceptions.DTDForbidden), (hostile.entity_bomb_reply(), zeep.exceptions.DTDForbidden)],
    ids=["external-entity", "billion-laughs"],
)
def test_zeep_settings_refuse_them_too(reply: str, refusal: type[Exception]) -> None:
    """Second line of defence: the settings handed to zeep refuse DTDs on their own."""
    with pytest.raises(refusal):
        parse_xml(reply.encode(), ASYNC_TRANSPORT, settings=hardened_settings())
