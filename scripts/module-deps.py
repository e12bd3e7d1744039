#!/usr/bin/env python3
"""Module dependency check: lists file-level import cycles (crate:: and super:: paths)
and edges that point up the layering http > actors > (notify, push, broker) >
(protocol, collab, db) > (config, ids, clock). Usage: scripts/module-deps.py [src]"""
import os,re,sys
root=sys.argv[1] if len(sys.argv)>1 else 'src'
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p=os.path.join(d,f); rel=os.path.relpath(p,root)[:-3]
            parts=rel.split('/')
            if parts[-1] in('mod','lib','main'): parts=parts[:-1]
            files[tuple(parts)]=p
def strip_tests(src):
    # drop #[cfg(test)] mod tests {...} at end
    i=src.find('#[cfg(test)]\nmod tests')
    return src if i<0 else src[:i]
def expand(txt):
    # expand crate::{a, b::{c,d}} into paths
    out=[]
    def rec(prefix,s):
        s=s.strip()
        if not s: return
        if s.startswith('{'):
            # split top-level commas
            inner=s[1:s.rfind('}')]
            depth=0;cur=''
            for ch in inner:
                if ch=='{':depth+=1
                if ch=='}':depth-=1
                if ch==',' and depth==0: rec(prefix,cur);cur=''
                else: cur+=ch
            rec(prefix,cur)
        else:
            m=re.match(r'([A-Za-z_0-9]+)(::(.*))?$',s,re.S)
            if not m: return
            name=m.group(1)
            if m.group(3) is not None: rec(prefix+[name],m.group(3))
            else: out.append(prefix+[name])
    rec([],txt)
    return out
def resolve(path):
    best=None
    for i in range(len(path),0,-1):
        if tuple(path[:i]) in files: return tuple(path[:i])
    return None
edges={}
for mod,p in files.items():
    src=strip_tests(open(p).read())
    src=re.sub(r'//[^\n]*','',src)
    deps=set()
    for m in re.finditer(r'crate::(\{[^;]*?\}(?=\s*;)|[A-Za-z_0-9]+(?:::[A-Za-z_0-9]+)*(::\{[^;]*?\})?)',src,re.S):
        for path in expand(m.group(1)):
            r=resolve(path)
            if r and r!=mod: deps.add(r)
    # super:: 
    for m in re.finditer(r'\bsuper::([A-Za-z_0-9]+)',src):
        parent=mod[:-1] if not p.endswith('mod.rs') else mod[:-1]
        r=resolve(list(parent)+[m.group(1)])
        if r and r!=mod: deps.add(r)
    edges[mod]=deps
# tarjan
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges.get(v,()):
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        sccs.append(comp)
for v in edges:
    if v not in idx: sc(v)
cyc=[s for s in sccs if len(s)>1]
print("file-level cycles:",len(cyc))
for s in cyc: print(len(s),sorted('/'.join(x) for x in s))
# layer check (top-level modules)
layer={'main':9,'startup':8,'http':7,'actors':6,'notify':5,'push':5,'broker':5,'auth':4.5,'limits':3,'presence_state':3,'protocol':3,'collab':3,'db':3,'config':1,'ids':1,'clock':1}
bad=[]
for a,ds in edges.items():
    if not a: continue
    for b in ds:
        if not b: continue
        la,lb=layer.get(a[0]),layer.get(b[0])
        if a[0]!=b[0] and la is not None and lb is not None and lb>la:
            bad.append(('/'.join(a),'/'.join(b)))
print("upward/sideways edges between top modules:",len(bad))
for x in sorted(bad): print("  ",x[0],'->',x[1])
