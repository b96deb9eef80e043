"""People, WeChat accounts, enterprises and who may act for them.

Identity numbers are validated by their checksums before anything is stored. Access to an
enterprise's space is decided here, in one place: the legal representative, or an agent whose
grant has not ended (valid_until is the last day) and was not revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_for, serialise
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import InvalidIdentifier, validate_id_number, validate_uscc
from personal_space.models import Enterprise, EnterpriseMember, Person, WeChatAccount

LEGAL_REPRESENTATIVE, AGENT = "legal_representative", "agent"


class EnterpriseNotFound(NotFound):
    code = "enterprise_not_found"
    message = "未找到该企业，或您无权查看"


class NotBound(NotFound):
    code = "not_bound"
    message = "请先在小程序中完成实名认证"


def id_number_or_error(value: str) -> str:
    try:
        return validate_id_number(value)
    except InvalidIdentifier as exc:
        raise InvalidInput(str(exc), code="invalid_id_number") from None


def uscc_or_error(value: str) -> str:
    try:
        return validate_uscc(value)
    except InvalidIdentifier as exc:
        raise InvalidInput(str(exc), code="invalid_uscc") from None


async def _get_or_insert(session: AsyncSession, model, key: str, **values):
    """The row with this primary key, inserted when absent. Requests about someone new arrive
    together (both openids bound while the ID card is pushed, a double-tapped first login): the
    later insert waits for the earlier one and does nothing, and both go on with the one row."""
    row = await session.get(model, key)
    if row is None:
        await session.execute(insert_for(session, model).values(**values).on_conflict_do_nothing())
        row = await session.get(model, key)
    return row


async def ensure_person(session: AsyncSession, id_number: str, name: str, now: datetime,
                        phone: str | None = None) -> Person:
    """The person with this ID number, created when first seen; a newer name or phone wins."""
    person = await _get_or_insert(session, Person, id_number, id_number=id_number, name=name, phone=phone,
                                  created_at=now, updated_at=now)
    if (name, phone or person.phone) != (person.name, person.phone):
        person.name, person.phone, person.updated_at = name, phone or person.phone, now
    return person


async def ensure_enterprise(session: AsyncSession, uscc: str, name: str, now: datetime) -> Enterprise:
    enterprise = await _get_or_insert(session, Enterprise, uscc, uscc=uscc, name=name, created_at=now)
    if name and enterprise.name != name:
        enterprise.name = name
    return enterprise


async def touch_account(session: AsyncSession, openid: str, unionid: str | None, now: datetime) -> WeChatAccount:
    """The WeChat account, created at its first login."""
    account = await _get_or_insert(session, WeChatAccount, openid, openid=openid, unionid=unionid, created_at=now)
    if unionid and account.unionid != unionid:
        account.unionid = unionid
    return account


async def bind(session: AsyncSession, openid: str, unionid: str | None, id_number: str, name: str,
               phone: str | None, now: datetime) -> WeChatAccount:
    """Real-name binding (实名绑定) as the identity provider reports it after its face check."""
    person = await ensure_person(session, id_number_or_error(id_number), name, now, phone)
    account = await touch_account(session, openid, unionid, now)
    account.id_number, account.bound_at = person.id_number, now
    return account


async def unbind(session: AsyncSession, openid: str) -> str:
    """解除实名绑定: the WeChat account stops standing for the person it was bound to (NotBound
    when it is not bound); that person's records stay, and a new binding brings them back. The
    person's ID number."""
    account = await session.get(WeChatAccount, openid, with_for_update=True)
    if account is None or account.id_number is None:
        raise NotBound()
    id_number, account.id_number, account.bound_at = account.id_number, None, None
    return id_number


async def accounts_of(session: AsyncSession, id_number: str) -> list[WeChatAccount]:
    """The WeChat accounts bound to this person, first bound first."""
    return list(await session.scalars(select(WeChatAccount).where(WeChatAccount.id_number == id_number)
                                      .order_by(WeChatAccount.bound_at, WeChatAccount.openid)))


async def bound_person(session: AsyncSession, openid: str) -> Person | None:
    """The person this WeChat account is bound to, or None (unknown or not yet bound), in one
    query: every chat turn and mini-program request of a bound user asks."""
    return await session.scalar(select(Person).join(WeChatAccount, WeChatAccount.id_number == Person.id_number)
                                .where(WeChatAccount.openid == openid))


async def person(session: AsyncSession, id_number: str) -> Person | None:
    """A person by 身份证号 (for another feature that holds the number, e.g. the hotline)."""
    return await session.get(Person, id_number)


async def require_person(session: AsyncSession, openid: str) -> Person:
    person = await bound_person(session, openid)
    if person is None:
        raise NotBound()
    return person


@dataclass(frozen=True)
class Membership:
    uscc: str
    name: str
    role: str
    valid_until: date | None


def _active(member: EnterpriseMember, today: date) -> bool:
    return member.revoked_at is None and (member.valid_until is None or member.valid_until >= today)


async def memberships(session: AsyncSession, id_number: str, today: date) -> list[Membership]:
    """The enterprises this person may act for today."""
    rows = await session.execute(select(EnterpriseMember, Enterprise.name)
                                 .join(Enterprise, Enterprise.uscc == EnterpriseMember.uscc)
                                 .where(EnterpriseMember.id_number == id_number)
                                 .order_by(EnterpriseMember.uscc, EnterpriseMember.id))
    found: dict[str, Membership] = {}
    for member, name in rows:
        if _active(member, today) and (member.uscc not in found or member.role == LEGAL_REPRESENTATIVE):
            found[member.uscc] = Membership(member.uscc, name, member.role, member.valid_until)
    return list(found.values())


async def holders(session: AsyncSession, person: Person, today: date) -> list[tuple[str, str]]:
    """Whose data this person may see today: their own and that of the enterprises they act for."""
    return [("person", person.id_number)] + [("enterprise", m.uscc)
                                             for m in await memberships(session, person.id_number, today)]


async def require_holders(session: AsyncSession, openid: str, today: date) -> tuple[Person, list[tuple[str, str]]]:
    """The bound caller and whose data they may see today; NotBound before the real-name binding."""
    person = await require_person(session, openid)
    return person, await holders(session, person, today)


async def require_membership(session: AsyncSession, uscc: str, id_number: str, today: date,
                             role: str | None = None) -> Membership:
    """The person's standing in the enterprise, or EnterpriseNotFound (never "forbidden": a
    non-member learns nothing, not even that the enterprise exists)."""
    for membership in await memberships(session, id_number, today):
        if membership.uscc == uscc and role in (None, membership.role):
            return membership
    raise EnterpriseNotFound()


async def set_legal_representative(session: AsyncSession, uscc: str, id_number: str, now: datetime) -> None:
    """The enterprise's legal representative, as the business registration reports it. A
    previous one loses the role, and with it whatever standing they keep or gave: their own
    agent grant and the agents they authorised end (the new representative grants anew), so
    someone who has left cannot go on reading the enterprise's data, alone or through others."""
    await serialise(session, f"enterprise:{uscc}")  # with grants and other pushes: one after the other
    current = (await session.scalars(select(EnterpriseMember).where(
        EnterpriseMember.uscc == uscc, EnterpriseMember.revoked_at.is_(None)))).all()
    representatives = [m for m in current if m.role == LEGAL_REPRESENTATIVE]
    if any(m.id_number == id_number for m in representatives):
        return
    leaving = {m.id_number for m in representatives}
    for member in current:
        if member.id_number in leaving or member.granted_by in leaving:
            member.revoked_at = now
    session.add(EnterpriseMember(uscc=uscc, id_number=id_number, role=LEGAL_REPRESENTATIVE, valid_until=None,
                                 granted_by=None, granted_at=now))


async def grant_agent(session: AsyncSession, uscc: str, by: str, id_number: str, name: str, valid_until: date,
                      now: datetime) -> EnterpriseMember:
    """The legal representative authorises an agent (经办人) until `valid_until`; after any change
    of representative under way (`set_legal_representative`), so a grant by one who is leaving
    cannot slip past it."""
    today = now.date()
    await serialise(session, f"enterprise:{uscc}")
    await require_membership(session, uscc, by, today, role=LEGAL_REPRESENTATIVE)
    if valid_until < today:
        raise InvalidInput("授权截止日期不能早于今天", code="invalid_grant_end")
    agent_id, name = id_number_or_error(id_number), name.strip()
    if not name:
        raise InvalidInput("请填写经办人姓名", code="agent_name_required")
    if agent_id == by:
        raise Conflict("法定代表人无需给自己授权", code="grant_to_self")
    # A known person keeps the name the identity provider confirmed: a grantor's typing never renames them.
    await _get_or_insert(session, Person, agent_id, id_number=agent_id, name=name, created_at=now, updated_at=now)
    await _end_grants(session, uscc, agent_id, now)
    member = EnterpriseMember(uscc=uscc, id_number=agent_id, role=AGENT, valid_until=valid_until, granted_by=by,
                              granted_name=name, granted_at=now)
    session.add(member)
    return member


async def revoke_agent(session: AsyncSession, uscc: str, by: str, id_number: str, now: datetime) -> None:
    """The legal representative ends an agent's grants now."""
    await serialise(session, f"enterprise:{uscc}")
    await require_membership(session, uscc, by, now.date(), role=LEGAL_REPRESENTATIVE)
    if not await _end_grants(session, uscc, id_number, now):
        raise NotFound("该人员不是本企业的经办人", code="member_not_found")


async def _end_grants(session: AsyncSession, uscc: str, id_number: str, now: datetime) -> int:
    """Revoke the agent's unrevoked grants (the caller has checked who asks); how many there were."""
    grants = (await session.scalars(select(EnterpriseMember).where(
        EnterpriseMember.uscc == uscc, EnterpriseMember.id_number == id_number, EnterpriseMember.role == AGENT,
        EnterpriseMember.revoked_at.is_(None)))).all()
    for grant in grants:
        grant.revoked_at = now
    return len(grants)


async def members(session: AsyncSession, uscc: str, today: date) -> list[tuple[EnterpriseMember, str]]:
    """The enterprise's members today, each with the name its legal representative may see: an
    agent's as it was typed at the grant (grants before that was kept show the name on record)."""
    rows = await session.execute(select(EnterpriseMember, Person.name)
                                 .join(Person, Person.id_number == EnterpriseMember.id_number)
                                 .where(EnterpriseMember.uscc == uscc).order_by(EnterpriseMember.id))
    return [(m, name if m.granted_name is None else m.granted_name) for m, name in rows if _active(m, today)]
