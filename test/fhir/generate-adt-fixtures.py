# Regenerates fixtures/adt/ (synthetic personas from fixtures/PERSONAS.md): python3 test/fhir/generate-adt-fixtures.py
import os, shutil
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'fixtures', 'adt')
def seg(name, fields):
    n = max(fields) if fields else 0
    return name + '|' + '|'.join(fields.get(i, '') for i in range(1, n + 1))

SENDERS = {
  'mercy': ('EPIC', 'MERCYSGF', '2.5.1'),
  'boone': ('MEDITECH', 'BOONE', '2.3'),
  'hie': ('HIEGW', 'MOHIE', '2.5.1'),
}
STRUCT = {'A01':'ADT_A01','A04':'ADT_A01','A08':'ADT_A01','A13':'ADT_A01','A02':'ADT_A02','A03':'ADT_A03','A05':'ADT_A05','A06':'ADT_A06','A07':'ADT_A06','A11':'ADT_A09','A12':'ADT_A12','A40':'ADT_A39','A28':'ADT_A05'}

def msg(sender, ev, ctl, ts, pid, pv1=None, dg1=(), in1=(), evn_occ=None, version=None, charset=None, mrg=None, proc='P', extra=()):
    app, fac, ver = SENDERS[sender]
    ver = version or ver
    m9 = f'ADT^{ev}' if ver == '2.3' else f'ADT^{ev}^{STRUCT[ev]}'
    msh = {2:'^~\\&',3:app,4:fac,5:'TCALERTS',6:'MOHH',7:ts,9:m9,10:ctl,11:proc,12:ver}
    if ver != '2.3': msh.update({15:'AL',16:'NE'})
    if charset: msh[18] = charset
    lines = ['MSH|' + '|'.join(msh.get(i,'') for i in range(2, max(msh)+1))]
    e = {1: ev, 2: ts}
    if evn_occ: e[6] = evn_occ
    lines.append(seg('EVN', e))
    lines.append(seg('PID', pid))
    if mrg: lines.append(seg('MRG', mrg))
    if pv1: lines.append(seg('PV1', pv1))
    for i, d in enumerate(dg1, 1):
        code, text, sysname = d
        lines.append(seg('DG1', {1:str(i), 2:('I10' if ver=='2.3' else ''), 3:f'{code}^{text}^{sysname}', 6:'A' if i==1 else 'W'}))
    for i, f in enumerate(in1, 1):
        d = {1:str(i)}; d.update(f); lines.append(seg('IN1', d))
    lines.extend(extra)
    return '\r'.join(lines) + '\r'

def write(path, text, enc='utf-8'):
    full = os.path.join(root, path); os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, 'wb').write(text.encode(enc))

# People (PERSONAS.md)
def pid_mercy(mrn, dcn, name, dob, sex, addr, phone, acct=None):
    ids = f'{mrn}^^^MERCY^MR' + (f'~{dcn}^^^MOHEALTHNET^MA' if dcn else '')
    d = {1:'1',3:ids,5:name,7:dob,8:sex,11:addr,13:phone}
    if acct: d[18] = acct
    return d
def pid_hie(mrn, auth, dcn, name, dob, sex, addr, phone):
    ids = f'{mrn}^^^{auth}^MR' + (f'~{dcn}^^^MOHEALTHNET^MA' if dcn else '')
    return {1:'1',3:ids,5:name,7:dob,8:sex,11:addr,13:phone}
def pid_boone(mrn, name, dob, sex, addr, phone):
    return {1:'1',3:f'{mrn}^^^BOONE^MR',5:name,7:dob,8:sex,11:addr,13:phone}

P001 = pid_mercy('M1001','10234567','ALVAREZ^MARIA^ELENA','19780314','F','1420 N Benton Ave^^Springfield^MO^65803^USA^H','^PRN^PH^^^417^5550101')
P002 = pid_hie('C2002','COX','99887766','THOMPSON^WILLIAM^JAMES','19651102','M','88 E 39th St^Apt 4B^Kansas City^MO^64111^USA^H','^PRN^PH^^^816^5550102')
P003 = pid_mercy('M1003','10456789','NGUYEN^LINH','19900721','F','300 S Jefferson Ave^^Springfield^MO^65806^USA^H','^PRN^PH^^^417^5550103')
P004 = pid_hie('B4004','BJH','10567890','WASHINGTON^DESHAWN','20010130','M','4100 Lindell Blvd^^St. Louis^MO^63108^USA^H','^PRN^PH^^^314^5550104')
P005 = pid_boone('BH5005',"O'BRIEN-KELLY^MARGARET^^^^^L~O'BRIEN-KELLY^PEGGY^^^^^N",'19520909','F','12 Elm St^^Columbia^MO^65201^USA^H','(573)555-0105')
P006 = pid_hie('B6006','BJH','10789012','SMITH^JOHN','19800505','M','700 Market St^^St. Louis^MO^63101^USA^H','^PRN^PH^^^314^5550106')
P007 = pid_mercy('M7007',None,'SMITH^JOHN','19800506','M','12 Oak St^^Springfield^MO^65802^USA^H','')
P008 = pid_mercy('M8008','10890123','JOHNSON^AVA','20140412','F','900 W Walnut St^^Springfield^MO^65806^USA^H','^PRN^PH^^^417^5550108')
P009 = pid_boone('BH9009','GARCIA^JOSE','19701225','M','55 Broadway^^Columbia^MO^65203^USA^H','(573)555-0109')
P010 = pid_mercy('M1010','01234567','MÜLLER^ZOË','19880229','F','15 Boonville Ave^^Springfield^MO^65806^USA^H','^PRN^PH^^^417^5550110')

ATT_M = '1003000011^PATEL^ANIL^^^^^^NPI'
ATT_B = '1003000029^REYES^CARMEN^^^^^^NPI'
ATT_H = '1003000037^OKAFOR^NNAMDI^^^^^^NPI'
def pv1(cls, loc, visit, auth, admit, disch=None, svc='MED', ptype=None, disp=None, fac39=None, prior=None, asrc=None, atype=None, att=ATT_M):
    d = {1:'1',2:cls,3:loc,7:att,10:svc,19:f'{visit}^^^{auth}^VN',44:admit}
    if atype: d[4] = atype
    if asrc: d[14] = asrc
    if ptype: d[18] = ptype
    if disp: d[36] = disp
    if fac39: d[39] = fac39
    if disch: d[45] = disch
    if prior: d[6] = prior
    return d

MOH_IN1 = {2:'MOHEALTHNET^MO HealthNet',3:'MOHEALTHNET',4:'MO HEALTHNET'}
COMM_IN1 = {2:'BCBSMO^Blue Cross Blue Shield PPO',3:'BCBSMO',4:'ANTHEM BCBS MISSOURI',36:'XEH123456789'}

if os.path.exists(root):
    for n in os.listdir(root):
        if n != 'README.md': shutil.rmtree(os.path.join(root, n), ignore_errors=True)

# p001 ED visit → admission → discharge home (mercy v2.5.1)
d = 'p001-ed-admit-discharge'
write(f'{d}/01-a04.hl7', msg('mercy','A04','MRC-P001-01','20261102081500',P001,pv1('E','ED^B12^01^MERCYSGF','V1001-01','MERCY','20261102081000',svc='EMR',atype='E',asrc='7'),dg1=[('E11.65','Type 2 diabetes mellitus with hyperglycemia','I10')],evn_occ='20261102081000'))
write(f'{d}/02-a06.hl7', msg('mercy','A06','MRC-P001-02','20261102143000',P001,pv1('I','4W^410^A^MERCYSGF','V1001-01','MERCY','20261102081000',atype='E',asrc='7'),dg1=[('E11.65','Type 2 diabetes mellitus with hyperglycemia','I10'),('I10','Essential (primary) hypertension','I10')],evn_occ='20261102142500'))
write(f'{d}/03-a03.hl7', msg('mercy','A03','MRC-P001-03','20261105110500',P001,pv1('I','4W^410^A^MERCYSGF','V1001-01','MERCY','20261102081000','20261105104500',disp='01',atype='E',asrc='7'),dg1=[('E11.65','Type 2 diabetes mellitus with hyperglycemia','I10'),('I10','Essential (primary) hypertension','I10'),('E11.9','Type 2 diabetes mellitus without complications','I10')],evn_occ='20261105104500'))

# p002 cancelled discharge via the HIE for Cox South (A01 → A03 → A13 → A03)
d = 'p002-cancelled-discharge'
H = dict(fac39='COXS', att=ATT_H)
write(f'{d}/01-a01.hl7', msg('hie','A01','HIE-P002-01','20261108193000',P002,pv1('I','3S^312^B^COXS','C2002-V7','COX','20261108191500',svc='PUL',atype='E',asrc='7',**H),dg1=[('J44.1','Chronic obstructive pulmonary disease with (acute) exacerbation','I10')],evn_occ='20261108191500'))
write(f'{d}/02-a03.hl7', msg('hie','A03','HIE-P002-02','20261111100000',P002,pv1('I','3S^312^B^COXS','C2002-V7','COX','20261108191500','20261111094500',svc='PUL',disp='01',**H),dg1=[('J44.1','Chronic obstructive pulmonary disease with (acute) exacerbation','I10')],evn_occ='20261111094500'))
write(f'{d}/03-a13.hl7', msg('hie','A13','HIE-P002-03','20261111103000',P002,pv1('I','3S^312^B^COXS','C2002-V7','COX','20261108191500','20261111094500',svc='PUL',**H),dg1=[('J44.1','Chronic obstructive pulmonary disease with (acute) exacerbation','I10')],evn_occ='20261111102500'))
write(f'{d}/04-a03.hl7', msg('hie','A03','HIE-P002-04','20261112150000',P002,pv1('I','3S^312^B^COXS','C2002-V7','COX','20261108191500','20261112144000',svc='PUL',disp='06',**H),dg1=[('J44.1','Chronic obstructive pulmonary disease with (acute) exacerbation','I10'),('F17.210','Nicotine dependence, cigarettes, uncomplicated','I10')],evn_occ='20261112144000'))

# p003 psychiatric inpatient stay (mercy, PV1-10 PSY, point of care 5WPSY), with a transfer
d = 'p003-psych-stay'
write(f'{d}/01-a01.hl7', msg('mercy','A01','MRC-P003-01','20261103220000',P003,pv1('I','5WPSY^502^A^MERCYSGF','V1003-01','MERCY','20261103214500',svc='PSY',atype='U'),dg1=[('F32.9','Major depressive disorder, single episode, unspecified','I10')],evn_occ='20261103214500'))
write(f'{d}/02-a02.hl7', msg('mercy','A02','MRC-P003-02','20261105090000',P003,pv1('I','5WPSY^510^B^MERCYSGF','V1003-01','MERCY','20261103214500',svc='PSY',prior='5WPSY^502^A^MERCYSGF'),evn_occ='20261105085500'))
write(f'{d}/03-a03.hl7', msg('mercy','A03','MRC-P003-03','20261110120000',P003,pv1('I','5WPSY^510^B^MERCYSGF','V1003-01','MERCY','20261103214500','20261110113000',svc='PSY',disp='01'),dg1=[('F32.9','Major depressive disorder, single episode, unspecified','I10'),('F41.1','Generalized anxiety disorder','I10')],evn_occ='20261110113000'))

# p004 detox (42 CFR Part 2 unit at BJH via the HIE), then an ED overdose visit
d = 'p004-detox-then-ed-overdose'
B = dict(fac39='BJH', att=ATT_H)
write(f'{d}/01-a01.hl7', msg('hie','A01','HIE-P004-01','20261101160000',P004,pv1('I','DTX^12^A^BJH','B4004-V1','BJH','20261101154500',svc='DETOX',**B),dg1=[('F10.20','Alcohol dependence, uncomplicated','I10')],evn_occ='20261101154500'))
write(f'{d}/02-a03.hl7', msg('hie','A03','HIE-P004-02','20261106100000',P004,pv1('I','DTX^12^A^BJH','B4004-V1','BJH','20261101154500','20261106093000',svc='DETOX',disp='01',**B),dg1=[('F10.20','Alcohol dependence, uncomplicated','I10'),('F32.9','Major depressive disorder, single episode, unspecified','I10')],evn_occ='20261106093000'))
write(f'{d}/03-a04.hl7', msg('hie','A04','HIE-P004-03','20261118023000',P004,pv1('E','ED^7^^BJH','B4004-V2','BJH','20261118021500',svc='EMR',atype='E',**B),dg1=[('T40.1X1A','Poisoning by heroin, accidental (unintentional), initial encounter','I10')],evn_occ='20261118021500'))
write(f'{d}/04-a03.hl7', msg('hie','A03','HIE-P004-04','20261118090000',P004,pv1('E','ED^7^^BJH','B4004-V2','BJH','20261118021500','20261118084500',svc='EMR',disp='01',atype='E',**B),dg1=[('T40.1X1A','Poisoning by heroin, accidental (unintentional), initial encounter','I10')],evn_occ='20261118084500'))

# p005 death in hospital (boone v2.3, free-text PV1-36 "Expired", PID-29/30, DCN in IN1-36 of the MO HealthNet plan)
d = 'p005-death'
in_moh = dict(MOH_IN1); in_moh[36] = '10678901'
write(f'{d}/01-a01.hl7', msg('boone','A01','BHC-P005-01','20261109063000',P005,pv1('I','ICU^3^^BOONE','BV5005-1','BOONE','20261109061500',svc='CAR',atype='E',att=ATT_B),dg1=[('I50.9','Heart failure, unspecified','I10'),('E11.9','Type 2 diabetes mellitus without complications','I10')],in1=[in_moh]))
P005_dead = dict(P005); P005_dead[29] = '202611120414'; P005_dead[30] = 'Y'
write(f'{d}/02-a03.hl7', msg('boone','A03','BHC-P005-02','20261112050000',P005_dead,pv1('I','ICU^3^^BOONE','BV5005-1','BOONE','20261109061500','202611120414',svc='CAR',disp='Expired',att=ATT_B),dg1=[('I50.9','Heart failure, unspecified','I10'),('E11.9','Type 2 diabetes mellitus without complications','I10')],in1=[in_moh]))

# p006 discharge against medical advice (BJH via the HIE, NUBC 07)
d = 'p006-ama-discharge'
write(f'{d}/01-a01.hl7', msg('hie','A01','HIE-P006-01','20261110120000',P006,pv1('I','6N^622^A^BJH','B6006-V3','BJH','20261110114000',svc='MED',atype='E',asrc='7',**B),dg1=[('I16.0','Hypertensive urgency','I10')],evn_occ='20261110114000'))
write(f'{d}/02-a03.hl7', msg('hie','A03','HIE-P006-02','20261111180000',P006,pv1('I','6N^622^A^BJH','B6006-V3','BJH','20261110114000','20261111174500',svc='MED',disp='07',**B),dg1=[('I16.0','Hypertensive urgency','I10'),('E66.9','Obesity, unspecified','I10')],evn_occ='20261111174500'))

# p007 the other John Smith (not on the roster): the rest of the events, a merge, an ignored event, a test message
d = 'p007-other-events'
PV7 = lambda **k: pv1('I','3E^301^A^MERCYSGF','V7007-01','MERCY','20261113090000',**k)
write(f'{d}/01-a05.hl7', msg('mercy','A05','MRC-P007-01','20261112150000',P007,pv1('P','3E^301^A^MERCYSGF','V7007-01','MERCY','20261113090000',atype='C')))
write(f'{d}/02-a01.hl7', msg('mercy','A01','MRC-P007-02','20261113091000',P007,PV7(atype='C'),dg1=[('K80.20','Calculus of gallbladder without obstruction','I10')],evn_occ='20261113090000'))
write(f'{d}/03-a02.hl7', msg('mercy','A02','MRC-P007-03','20261113140000',P007,pv1('I','3E^305^B^MERCYSGF','V7007-01','MERCY','20261113090000',prior='3E^301^A^MERCYSGF'),evn_occ='20261113135500'))
write(f'{d}/04-a12.hl7', msg('mercy','A12','MRC-P007-04','20261113141000',P007,pv1('I','3E^301^A^MERCYSGF','V7007-01','MERCY','20261113090000',prior='3E^305^B^MERCYSGF'),evn_occ='20261113140500'))
write(f'{d}/05-a08.hl7', msg('mercy','A08','MRC-P007-05','20261113160000',P007,PV7(atype='C'),dg1=[('K80.20','Calculus of gallbladder without obstruction','I10'),('E66.9','Obesity, unspecified','I10')]))
write(f'{d}/06-a07.hl7', msg('mercy','A07','MRC-P007-06','20261114090000',P007,pv1('O','SDS^4^^MERCYSGF','V7007-01','MERCY','20261113090000'),evn_occ='20261114085000'))
write(f'{d}/07-a28-ignored.hl7', msg('mercy','A28','MRC-P007-07','20261114091000',P007))
write(f'{d}/08-a08-test-message.hl7', msg('mercy','A08','MRC-P007-08','20261114100000',P007,PV7(),proc='T'))

d = 'p007-merge'
P007_survivor = dict(P007)
write(f'{d}/01-a40.hl7', msg('mercy','A40','MRC-P007-M1','20261115080000',P007_survivor,mrg={1:'M7999^^^MERCY^MR'},evn_occ='20261115075500'))

# p008 late A03 with no A01 (ED asthma visit, child)
d = 'p008-late-discharge'
write(f'{d}/01-a03.hl7', msg('mercy','A03','MRC-P008-01','20261116213000',P008,pv1('E','ED^B04^01^MERCYSGF','V8008-02','MERCY','20261116171000','20261116210000',svc='EMR',disp='01',atype='E'),dg1=[('J45.901','Unspecified asthma with (acute) exacerbation','I10')],evn_occ='20261116210000'))

# p009 cancelled admission (boone v2.3, A01 → A11)
d = 'p009-cancelled-admission'
write(f'{d}/01-a01.hl7', msg('boone','A01','BHC-P009-01','20261117101500','' or P009,pv1('I','2N^204^A^BOONE','BV9009-4','BOONE','20261117100000',svc='MED',atype='U',att=ATT_B),dg1=[('J44.1','Chronic obstructive pulmonary disease with (acute) exacerbation','I10')]))
write(f'{d}/02-a11.hl7', msg('boone','A11','BHC-P009-02','20261117113000',P009,pv1('I','2N^204^A^BOONE','BV9009-4','BOONE','20261117100000',svc='MED',att=ATT_B)))

# p010 observation stay (O + PV1-18 OBS → OBSENC), 8859/1 bytes with MÜLLER, ZOË
d = 'p010-observation-latin1'
write(f'{d}/01-a04.hl7', msg('mercy','A04','MRC-P010-01','20261119190000',P010,pv1('O','OBS^8^^MERCYSGF','V1010-01','MERCY','20261119184500',svc='MED',ptype='OBS'),dg1=[('R07.9','Chest pain, unspecified','I10'),('E11.9','Type 2 diabetes mellitus without complications','I10')],evn_occ='20261119184500',charset='8859/1'),'latin-1')
write(f'{d}/02-a03.hl7', msg('mercy','A03','MRC-P010-02','20261120160000',P010,pv1('O','OBS^8^^MERCYSGF','V1010-01','MERCY','20261119184500','20261120153000',svc='MED',ptype='OBS',disp='01'),dg1=[('R07.9','Chest pain, unspecified','I10'),('F32.9','Major depressive disorder, single episode, unspecified','I10')],evn_occ='20261120153000',charset='8859/1'),'latin-1')

# version pair: the same story (A01 → A03 for P007, not on the roster) in v2.3 and v2.5.1
for ver, tag in (('2.3','v2.3'),('2.5.1','v2.5.1')):
    d = f'version-pair/{tag}'
    write(f'{d}/01-a01.hl7', msg('mercy','A01',f'MRC-VP-{tag}-01','20261121080000',P007,pv1('I','3E^320^A^MERCYSGF','V7007-VP','MERCY','20261121074500',atype='E'),dg1=[('J18.9','Pneumonia, unspecified organism','I10')],evn_occ='20261121074500',version=ver))
    write(f'{d}/02-a03.hl7', msg('mercy','A03',f'MRC-VP-{tag}-02','20261123113000',P007,pv1('I','3E^320^A^MERCYSGF','V7007-VP','MERCY','20261121074500','20261123110000',disp='01'),dg1=[('J18.9','Pneumonia, unspecified organism','I10')],evn_occ='20261123110000',version=ver))
print('ok')
